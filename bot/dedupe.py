"""Slack retries an event it thinks went unanswered (same `event_id`, `X-Slack-Retry-Num`), and
with several app instances any of them may get the retry: the first to record the id in
PostgreSQL answers, the others acknowledge and do nothing."""
from __future__ import annotations

import hashlib
import logging
import random

from observability import metrics
from sql import query
from sql.database import retry_if_dropped

log = logging.getLogger(__name__)


def mark_event_seen(db, event_id: str) -> bool:
    """True the first time an event id is seen, False for a repeat."""
    with db.connection() as conn:
        return conn.execute(query("slack.mark_event_seen"), {"event_id": event_id}).fetchone() is not None


def forget_old_events(db) -> int:
    with db.connection() as conn:
        return conn.execute(query("slack.forget_old_events")).rowcount


def first_delivery(db, body: dict) -> bool:
    """True unless this event id was handled before. Called at the start of the work after the
    ack, so the database round trip is never on the 3-second ack path."""
    event_id = body.get("event_id") if body.get("type") == "event_callback" else None
    if not event_id:
        return True
    try:
        fresh = retry_if_dropped(lambda: mark_event_seen(db, event_id), "recording Slack event")
    except Exception:  # the database is unreachable: answer (maybe twice) rather than lose the question
        log.warning("could not record Slack event %s; answering it anyway", event_id, exc_info=True)
        return True
    if not fresh:
        metrics.SLACK_DUPLICATE_EVENTS.inc()
        log.info("skipping event %s: already handled", event_id)
        return False
    if random.random() < 0.01:  # keep the table small without a scheduler job
        forget_old_events(db)
    return True


def first_command_delivery(db, command: dict, raw_body: str | bytes | None) -> bool:
    """True unless this slash command was handled before: a replayed request (the same signed body,
    which Slack's signature accepts for five minutes) carries the same trigger id and the same
    bytes. Recorded with the event ids; a database hiccup answers rather than drops."""
    keys = []
    if command.get("trigger_id"):
        keys.append(f"command:{command['trigger_id']}"[:200])
    if raw_body:
        data = raw_body.encode("utf-8", "surrogatepass") if isinstance(raw_body, str) else raw_body
        keys.append("command-body:" + hashlib.sha256(data).hexdigest())
    try:
        fresh = [mark_event_seen(db, key) for key in keys]
    except Exception:
        log.warning("could not record slash command %s for de-duplication; answering it", keys[:1], exc_info=True)
        return True
    if not all(fresh):
        metrics.SLACK_DUPLICATE_EVENTS.inc()
        log.info("skipping slash command %s: already handled", command.get("command"))
        return False
    return True
