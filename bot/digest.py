"""The customer review, posted unasked to the channels subscribed to it (`/customer-digest`): each
period once, whatever number of instances run (a channel is claimed for a period before posting; a
failed post gives the claim back for the next attempt)."""
from __future__ import annotations

import logging
from datetime import datetime, timezone

from slack_sdk import WebClient

from analytics.core import ToolContext, ToolError
from analytics.review import weekly_review
from bot.views import blocks as bk
from bot.views.review import review_blocks
from sql import query

log = logging.getLogger(__name__)
CADENCES = ("weekly", "daily")


def due_periods(settings, now: datetime) -> dict[str, str]:
    """The period each cadence's review is due for at `now`, in the store's time zone: the day from
    DIGEST_HOUR on, and the ISO week from Monday's DIGEST_HOUR on (later in the week if Monday's was
    missed). The review's figures stay relative to the latest order, as every answer's are."""
    local = now.astimezone(settings.store_zone)
    year, week, weekday = local.isocalendar()
    due = {}
    if local.hour >= settings.digest_hour or weekday > 1:
        due["weekly"] = f"{year}-W{week:02d}"
    if local.hour >= settings.digest_hour:
        due["daily"] = local.date().isoformat()
    return due


def post_due_reviews(client: WebClient, ctx: ToolContext, now: datetime | None = None) -> dict[str, list[str]]:
    """Post the review to every subscribed channel that has not had the period due at `now` yet;
    returns the channels posted to, by cadence."""
    due = due_periods(ctx.settings, now or datetime.now(timezone.utc))
    if not due:
        return {}
    try:
        review = weekly_review(ctx)
    except ToolError as exc:   # no orders or no discovery run yet: nothing worth posting
        log.info("no customer review to post: %s", exc)
        return {}
    pages = bk.paginate(review_blocks(review))
    posted: dict[str, list[str]] = {}
    for cadence, period in due.items():
        with ctx.db.cursor() as cur:
            cur.execute(query("digest.claim_due"), {"cadence": cadence, "period": period})
            claimed = cur.fetchall()
        for row in claimed:
            channel = row["channel_id"]
            try:
                first = client.chat_postMessage(channel=channel, text=review.summary, blocks=pages[0])
                for page in pages[1:]:
                    client.chat_postMessage(channel=channel, thread_ts=first["ts"], text=review.summary, blocks=page)
            except Exception:  # noqa: BLE001 - logged; the claim goes back for the next run
                log.exception("could not post the %s customer review to %s", cadence, channel)
                with ctx.db.cursor() as cur:
                    cur.execute(query("digest.release"), {"channel_id": channel, "period": period,
                                                          "previous_period": row["previous_period"]})
                continue
            posted.setdefault(cadence, []).append(channel)
    return posted
