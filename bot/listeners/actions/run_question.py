"""Suggested-question buttons (Home tab, clarifications): ask the button's question. From a
message it is answered in that thread; from the Home tab, in the person's DM with the bot."""
from __future__ import annotations

import re

from bot.answering import answer_in_thread
from bot.listeners.actions.common import message_location
from bot.views.answer import RUN_QUESTION


def register(app, deps) -> None:
    def ack_action(ack):
        ack()

    def ask(body, action, client):
        user = (body.get("user") or {}).get("id")
        question = action.get("value") or ""
        channel, thread_ts = message_location(body)
        if channel is None:  # clicked in App Home: start a DM thread with the question
            posted = client.chat_postMessage(channel=user, text=f"❓ {question}")
            channel, thread_ts = posted["channel"], posted["ts"]
        answer_in_thread(deps, client, channel=channel, thread_ts=thread_ts, user=user, question=question,
                         listener="run_question")

    app.action(re.compile(f"^{RUN_QUESTION}(_\\d+)?$"))(ack=ack_action, lazy=[ask])
