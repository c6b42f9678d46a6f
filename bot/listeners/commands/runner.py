"""What every slash command shares: `help`, the allow-list and argument errors answered inside
the 3-second ack; the tool calls run after the ack (lazy listener) and post to the channel."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from slack_sdk.errors import SlackApiError

from bot.access import is_allowed, not_enabled_message
from bot.dedupe import first_command_delivery
from sql.database import retry_if_dropped
from bot.delivery import post_pages
from bot.limits import limited_message
from observability import metrics
from bot.views import blocks as bk
from bot.views.answer import tool_result_pages
from bot.views.charts import forecast_png
from bot.views.help import command_help_blocks

log = logging.getLogger(__name__)

ToolCalls = list[tuple[str, dict[str, Any]]]


class CommandError(ValueError):
    """The command's text cannot be understood; the message names the offending value."""


def register_command(app, deps, command: str, parse: Callable[[str], ToolCalls]) -> None:
    def ack_command(ack, command: dict):
        text = (command.get("text") or "").strip()
        if not is_allowed(deps.settings, command.get("channel_id"), command.get("user_id")):
            return ack(text=not_enabled_message(command.get("channel_id")))
        if text.lower() in ("help", "-h", "--help", "?"):
            return ack(blocks=command_help_blocks(command_name), text=f"{command_name} help")
        try:
            parse(text)
        except CommandError as exc:
            return ack(text=f"{exc}\nTry `{command_name} help`.")
        ack()

    def run(command: dict, client, respond, request=None):
        text = (command.get("text") or "").strip()
        if text.lower() in ("help", "-h", "--help", "?") or not is_allowed(
                deps.settings, command.get("channel_id"), command.get("user_id")):
            return
        if not first_command_delivery(deps.db, command, getattr(request, "raw_body", None)):
            return
        started = time.perf_counter()
        try:
            calls = parse(text)
        except CommandError:
            return
        wait = deps.limits.wait_before(command.get("channel_id"), command.get("user_id"))
        if wait > 0:
            metrics.SLACK_HANDLED.labels(command_name, "rate_limited").inc()
            respond(text=limited_message(wait), response_type="ephemeral")
            return
        channel = command["channel_id"]
        try:
            for tool, arguments in calls:
                try:
                    result = retry_if_dropped(lambda: deps.run_tool(tool, arguments), f"{command_name} {tool}")
                except Exception as exc:
                    _report_tool_error(respond, tool, exc)
                    return
                pages = tool_result_pages(tool, arguments, result,
                                          intro=f"<@{command.get('user_id')}> ran `{f'{command_name} {text}'.strip()}`")
                try:
                    post_pages(client, channel, pages, chart_png=lambda r=result: forecast_png(r))
                except SlackApiError as exc:
                    if exc.response.get("error") not in ("not_in_channel", "channel_not_found"):
                        raise
                    # The bot is not in this channel (or it is someone's DM): answer privately instead.
                    for page in pages:
                        respond(blocks=page, text=bk.fallback_text(page), response_type="ephemeral")
            metrics.SLACK_ANSWERS.labels("command").inc()
            metrics.SLACK_HANDLED.labels(command_name, "answered").inc()
        except Exception:
            metrics.SLACK_HANDLED.labels(command_name, "error").inc()
            log.exception("%s %r failed", command_name, text)
            respond(text="Sorry, that failed (the error is logged). Try again in a minute.", response_type="ephemeral")
        finally:
            metrics.SLACK_LISTENER_SECONDS.labels(command_name).observe(time.perf_counter() - started)

    command_name = command
    app.command(command)(ack=ack_command, lazy=[deps.limited(run)])


def _report_tool_error(respond, tool: str, exc: Exception) -> None:
    from analytics.core import ToolError

    if isinstance(exc, ToolError):
        respond(text=str(exc), response_type="ephemeral")
    else:
        log.exception("tool %s failed", tool, exc_info=exc)
        respond(text=f"Sorry, {tool} failed (the error is logged).", response_type="ephemeral")
