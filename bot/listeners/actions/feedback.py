"""👍/👎 on an answer: stored at once; a 👎 opens a small optional "what was wrong?" modal."""
from __future__ import annotations

import json
import logging
import re

from bot.feedback import save_feedback
from bot.listeners.actions.common import message_location
from bot.views.answer import FEEDBACK
from bot.views.feedback import reason_modal

log = logging.getLogger(__name__)


def register(app, deps) -> None:
    def ack_action(ack):
        ack()

    def feedback(body, action, client):
        channel, _ = message_location(body)
        message = body.get("message") or {}
        message_ts = message.get("ts") or (body.get("container") or {}).get("message_ts")
        user = (body.get("user") or {}).get("id")
        rating = action.get("value") if action.get("value") in ("positive", "negative") else (
            "negative" if action["action_id"].endswith("negative") else "positive")
        _, tool, source = (action.get("block_id", "") + "||").split("|")[:3]
        save_feedback(deps.db, channel_id=channel, message_ts=message_ts, user_id=user, rating=rating,
                      tool=None if tool in ("", "-") else tool, source=None if source in ("", "-") else source,
                      answer_excerpt=(message.get("text") or "")[:500])
        if rating == "negative" and body.get("trigger_id"):
            metadata = json.dumps({"channel_id": channel, "message_ts": message_ts})
            client.views_open(trigger_id=body["trigger_id"], view=reason_modal(metadata))
        else:
            client.chat_postEphemeral(channel=channel, user=user, text="Thanks for the feedback!")

    # Lazy, like every listener that touches the database or Slack: the trigger_id for the
    # modal stays valid for 3 s, far more than this takes.
    app.action(re.compile(f"^{FEEDBACK}(_positive|_negative)?$"))(ack=ack_action, lazy=[feedback])
