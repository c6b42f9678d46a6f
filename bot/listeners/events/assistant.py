"""Slack's AI assistant pane: suggested prompts when a thread starts. Messages in the pane arrive
as message.im in a thread and go through direct_message (with the "thinking" status)."""
from __future__ import annotations

import logging

from bot.dedupe import first_delivery
from bot.views.help import SUGGESTED_QUESTIONS

log = logging.getLogger(__name__)
GREETING = "Hi! Ask me about your customers — churn risk, segments, value, products, forecasts, campaigns."


def suggested_prompts() -> list[dict[str, str]]:
    return [{"title": q, "message": q} for q in SUGGESTED_QUESTIONS[:4]]


def register(app, deps) -> None:
    def ack_event(ack):
        ack()

    def thread_started(body, event, client):
        if not first_delivery(deps.db, body):
            return
        thread = event.get("assistant_thread", {})
        channel, thread_ts = thread.get("channel_id"), thread.get("thread_ts")
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=GREETING)
        client.assistant_threads_setSuggestedPrompts(channel_id=channel, thread_ts=thread_ts,
                                                     title="Try one of these", prompts=suggested_prompts())

    app.event("assistant_thread_started")(ack=ack_event, lazy=[thread_started])

    @app.event("assistant_thread_context_changed")
    def context_changed(ack):
        ack()  # the bot answers from the store's data, not from the channel being viewed
