"""The optional reason a person gives with a 👎, saved next to the rating."""
from __future__ import annotations

import json

from bot.feedback import save_feedback_reason
from bot.views.feedback import REASON_ACTION, REASON_BLOCK, REASON_CALLBACK


def register(app, deps) -> None:
    @app.view(REASON_CALLBACK)
    def submitted(ack, body, view):
        reason = (((view.get("state") or {}).get("values") or {}).get(REASON_BLOCK, {})
                  .get(REASON_ACTION, {}).get("value") or "").strip()
        if len(reason) > 1000:
            return ack(response_action="errors", errors={REASON_BLOCK: f"Please keep it under 1,000 characters ({len(reason):,} now)."})
        ack()
        if reason:
            where = json.loads(view.get("private_metadata") or "{}")
            save_feedback_reason(deps.db, channel_id=where.get("channel_id"), message_ts=where.get("message_ts"),
                                 user_id=body["user"]["id"], reason=reason)
