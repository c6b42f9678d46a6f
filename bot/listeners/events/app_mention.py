"""@-mentions in channels: answered in the mention's thread (slow work after the ack)."""
from __future__ import annotations

from bot.answering import answer_in_thread
from bot.dedupe import first_delivery


def register(app, deps) -> None:
    def ack_event(ack):
        ack()

    def answer(body, event, client):
        if event.get("bot_id") or _in_direct_message(event) or not first_delivery(deps.db, body):
            # Other bots' mentions are not questions from people; a mention inside the bot's DM
            # also arrives as message.im, which answers it (one answer, not two).
            return
        answer_in_thread(deps, client, channel=event["channel"], thread_ts=event.get("thread_ts") or event["ts"],
                         user=event.get("user"), question=event.get("text", ""), listener="app_mention")

    app.event("app_mention")(ack=ack_event, lazy=[answer])


def _in_direct_message(event: dict) -> bool:
    return event.get("channel_type") == "im" or str(event.get("channel") or "").startswith("D")
