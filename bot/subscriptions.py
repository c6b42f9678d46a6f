"""Subscribing a channel to the customer review and alerts, or stopping them: one place for the
`/customer-digest` command and the App Home buttons (allow-lists hold for both)."""
from __future__ import annotations

from bot.access import is_allowed, not_enabled_message
from sql import query

CHOICES = ("weekly", "daily", "off")


def set_subscription(deps, channel: str, user: str | None, choice: str) -> str:
    """Apply `choice` (weekly, daily or off) to `channel` for `user`; returns what to tell them."""
    if not is_allowed(deps.settings, channel, user):
        return not_enabled_message(channel)
    if choice in ("weekly", "daily"):
        with deps.db.cursor() as cur:
            cur.execute(query("digest.subscribe"), {"channel_id": channel, "cadence": choice, "user_id": user})
        return (f"<#{channel}> will get the {choice} customer review: last week against the week before and a year "
                "before, the at-risk customers with most at stake, how customers changed, and the forecast; "
                "and alerts worth interrupting for (a top customer turning at risk, revenue outside the forecast, "
                "a spike in returns, stale data), a few a day at most.")
    with deps.db.cursor() as cur:
        cur.execute(query("digest.unsubscribe"), {"channel_id": channel})
        removed = cur.fetchone()
    return (f"<#{channel}> will no longer get the {removed['cadence']} customer review or alerts." if removed
            else f"<#{channel}> was not getting the customer review.")


def subscriptions(db) -> list[dict]:
    """Every subscribed channel with its cadence, for the App Home."""
    with db.cursor() as cur:
        cur.execute(query("digest.subscriptions"))
        return [dict(r) for r in cur.fetchall()]
