"""/customer-digest weekly|daily|off [#channel]: subscribe a channel (this one by default) to the
customer review the bot posts unasked, or stop it. Only people and channels on the allow-lists."""
from __future__ import annotations

import re

from bot.access import is_allowed, not_enabled_message
from sql import query

USAGE = "Use `/customer-digest weekly`, `/customer-digest daily` or `/customer-digest off`, optionally with a #channel."
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|[^>]*)?>")


def handle(deps, command: dict) -> str:
    words = (command.get("text") or "").split()
    user = command.get("user_id")
    channel = command.get("channel_id")
    named = _CHANNEL.search(command.get("text") or "")
    if named:
        channel = named.group(1)
        words = [w for w in words if not _CHANNEL.fullmatch(w)]
    if not is_allowed(deps.settings, channel, user):
        return not_enabled_message(channel)
    choice = words[0].lower() if words else ""
    if choice in ("weekly", "daily"):
        with deps.db.cursor() as cur:
            cur.execute(query("digest.subscribe"), {"channel_id": channel, "cadence": choice, "user_id": user})
        return (f"<#{channel}> will get the {choice} customer review: last week against the week before and a year "
                "before, the at-risk customers with most at stake, how customers changed, and the forecast.")
    if choice in ("off", "stop", "unsubscribe"):
        with deps.db.cursor() as cur:
            cur.execute(query("digest.unsubscribe"), {"channel_id": channel})
            removed = cur.fetchone()
        return (f"<#{channel}> will no longer get the {removed['cadence']} customer review." if removed
                else f"<#{channel}> was not getting the customer review.")
    return USAGE


def register(app, deps) -> None:
    def customer_digest(ack, command):
        ack(text=handle(deps, command))

    app.command("/customer-digest")(customer_digest)
