"""Answer feedback (👍/👎 and an optional reason) stored in PostgreSQL for review."""
from __future__ import annotations

from sql import query


def save_feedback(db, **row) -> int:
    with db.connection() as conn:
        return conn.execute(query("slack.save_feedback"), row).fetchone()[0]


def save_feedback_reason(db, *, channel_id: str, message_ts: str, user_id: str, reason: str) -> bool:
    with db.connection() as conn:
        return conn.execute(query("slack.save_feedback_reason"), {
            "channel_id": channel_id, "message_ts": message_ts, "user_id": user_id, "reason": reason,
        }).fetchone() is not None

