"""@-mentions in channels: answered in the mention's thread (slow work after the ack)."""
from __future__ import annotations

from bot.dedupe import first_delivery
from bot.answering import answer_in_thread


def register(app, deps) -> None:
    def ack_event(ack):
        ack()

    def answer(body, event, client):
        if not first_delivery(deps.db, body):
            return
        answer_in_thread(deps, client, channel=event["channel"], thread_ts=event.get("thread_ts") or event["ts"],
                         user=event.get("user"), question=event.get("text", ""), listener="app_mention")

    app.event("app_mention")(ack=ack_event, lazy=[answer])
