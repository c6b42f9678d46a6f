"""Direct messages to the bot (message.im), including the assistant pane's threads. Edits,
bot messages and other subtypes are acknowledged and ignored, as are other channels' messages."""
from __future__ import annotations

from bot.answering import answer_in_thread
from bot.dedupe import first_delivery


def _is_person_writing_in_dm(event: dict) -> bool:
    return (event.get("channel_type") == "im" and not event.get("subtype")
            and not event.get("bot_id") and bool(event.get("user")))


def register(app, deps) -> None:
    def ack_event(ack):
        ack()

    def answer(body, event, client):
        if not first_delivery(deps.db, body):
            return
        answer_in_thread(deps, client, channel=event["channel"], thread_ts=event.get("thread_ts") or event["ts"],
                         user=event.get("user"), question=event.get("text", ""), listener="message_im",
                         assistant_thread=bool(event.get("thread_ts")))

    def ignore(ack):
        ack()

    app.event("message", matchers=[lambda event: _is_person_writing_in_dm(event)])(ack=ack_event, lazy=[answer])
    # Anything else (edits, bot posts, channel chatter): acknowledged so Slack does not retry it.
    app.event("message")(ignore)
