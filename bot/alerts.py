"""Alerts posted unasked to the channels subscribed to the customer review: each alert recorded once
by its key (kind, subject, period) with a delivery per subscribed channel, held during the store's
quiet hours and beyond the daily cap per channel, then claimed and posted by one instance (a failed
post gives the claim back). Held deliveries older than HOLD_HOURS expire (logged with a count)."""
from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from slack_sdk import WebClient

from analytics.alerts import Alert, find_alerts
from analytics.core import ToolContext
from bot.subscriptions import subscriptions
from bot.views.alerts import alert_blocks
from observability import metrics
from sql import query

log = logging.getLogger(__name__)
# Held (quiet hours, the daily cap) for longer than this, an alert is no longer news.
HOLD_HOURS = 48


def in_quiet_hours(settings, now: datetime) -> bool:
    """Whether `now` falls in the store-local quiet hours (start inclusive, end exclusive; 22-07
    spans midnight)."""
    quiet = settings.quiet_hours
    if quiet is None:
        return False
    start, end = quiet
    hour = now.astimezone(settings.store_zone).hour
    return start <= hour < end if start < end else hour >= start or hour < end


def record_alerts(ctx: ToolContext, alerts: list[Alert], now: datetime) -> list[Alert]:
    """Store the alerts not seen before, each with a delivery per subscribed channel; returns those new."""
    new = []
    for alert in alerts:   # one transaction each: an alert that cannot be stored never loses the others
        try:
            with ctx.db.cursor() as cur:
                cur.execute(query("alerts.record"), {
                    "alert_key": alert.key, "kind": alert.kind, "subject": alert.subject, "period": alert.period,
                    "reason": alert.reason, "more": json.dumps(alert.more), "now": now})
                stored = bool(cur.fetchall())
        except Exception:  # noqa: BLE001 - logged; found again (and retried) at the next check
            log.exception("could not record alert %s", alert.key)
            continue
        if stored:
            new.append(alert)
            metrics.SLACK_ALERTS.labels(alert.kind, "recorded").inc()
    return new


def post_due_alerts(client: WebClient, ctx: ToolContext, now: datetime | None = None) -> dict[str, list[str]]:
    """Find and record alerts, then post the held ones each channel may have now; returns the alert
    keys posted, by channel. With no channel subscribed nothing is looked for: an alert found now
    would reach no one, and a channel that subscribes later gets what the data shows then."""
    now = now or datetime.now(timezone.utc)
    if not subscriptions(ctx.db):
        return {}
    new = record_alerts(ctx, find_alerts(ctx, now), now)
    if new:
        log.info("new alerts: %s", [a.key for a in new])
    with ctx.db.cursor() as cur:
        cur.execute(query("alerts.expire_held"), {"now": now, "hours": HOLD_HOURS})
        expired = cur.fetchall()
    for row in expired:
        metrics.SLACK_ALERTS.labels(row["kind"], "expired").inc()
    if expired:
        log.warning("%d held alert deliveries expired unsent (older than %d hours)", len(expired), HOLD_HOURS)
    if in_quiet_hours(ctx.settings, now):
        with ctx.db.cursor() as cur:
            cur.execute(query("alerts.held_count"))
            log.info("quiet hours: %d alert deliveries held", cur.fetchone()["held"])
        return {}
    local = now.astimezone(ctx.settings.store_zone)
    day_start = local.replace(hour=0, minute=0, second=0, microsecond=0)
    with ctx.db.cursor() as cur:
        cur.execute(query("alerts.claim_due"), {"day_start": day_start, "now": now,
                                                "per_day": ctx.settings.alerts_per_channel_per_day})
        claimed = sorted(cur.fetchall(), key=lambda r: (r["channel_id"], r["detected_at"], r["alert_id"]))
    posted: dict[str, list[str]] = {}
    for row in claimed:
        key = f"{row['kind']}:{row['subject']}:{row['period']}"
        try:
            client.chat_postMessage(channel=row["channel_id"], text=row["reason"], blocks=alert_blocks(row))
        except Exception:  # noqa: BLE001 - logged; the delivery goes back for the next run
            log.exception("could not post alert %s to %s", key, row["channel_id"])
            metrics.SLACK_ALERTS.labels(row["kind"], "failed").inc()
            with ctx.db.cursor() as cur:
                cur.execute(query("alerts.release"), {"alert_id": row["alert_id"], "channel_id": row["channel_id"]})
            continue
        metrics.SLACK_ALERTS.labels(row["kind"], "posted").inc()
        posted.setdefault(row["channel_id"], []).append(key)
    return posted
