""""Show more": the next page of a customer list, posted in the same thread; also the buttons of
the customer review and of alerts that open the full list or the figures behind them."""
from __future__ import annotations

import logging
import re

from bot.access import is_allowed, not_enabled_message
from bot.delivery import post_pages, replace_with_error
from bot.listeners.actions.common import message_location
from bot.views.answer import SHOW_MORE, parse_tool_call_value, tool_result_pages

log = logging.getLogger(__name__)


def register(app, deps) -> None:
    def ack_action(ack):
        ack()

    def show_more(body, action, client):
        channel, thread_ts = message_location(body)
        user = (body.get("user") or {}).get("id")
        if not is_allowed(deps.settings, channel, user):
            client.chat_postEphemeral(channel=channel, user=user, text=not_enabled_message(channel))
            return
        try:
            tool, arguments = parse_tool_call_value(action["value"])
            result = deps.run_tool(tool, arguments)
            post_pages(client, channel, tool_result_pages(tool, arguments, result), thread_ts=thread_ts)
        except Exception:
            log.exception("show more failed for %r", action.get("value"))
            replace_with_error(client, channel, None, thread_ts, "Sorry, I couldn't load more (the error is logged).")

    app.action(re.compile(f"^{SHOW_MORE}(_[a-z_]+)?$"))(ack=ack_action, lazy=[deps.limited(show_more)])
