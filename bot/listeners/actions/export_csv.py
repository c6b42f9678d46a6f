""""Export CSV": re-runs the list's tool call and uploads the rows as a CSV file in the thread.
A campaign result that carries its own export (for the store's marketing tool) is delivered as is."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

from bot.access import is_allowed, not_enabled_message
from bot.delivery import replace_with_error
from bot.listeners.actions.common import message_location
from bot.views.answer import EXPORT_CSV, parse_tool_call_value
from bot.views.format import format_value
from bot.views.results import result_rows

log = logging.getLogger(__name__)
_EXPORT_FIELDS = ("csv", "export_csv", "csv_text")
_EXPORT_PATH_FIELDS = ("export_path", "csv_path")


def csv_bytes(result: Any) -> bytes:
    """The tool's own export when it has one, else its largest list as CSV (no personal fields)."""
    for name in _EXPORT_FIELDS:
        value = getattr(result, name, None)
        if isinstance(value, str) and value:
            return value.encode("utf-8")
    for name in _EXPORT_PATH_FIELDS:
        value = getattr(result, name, None)
        if value and Path(value).is_file():
            return Path(value).read_bytes()
    columns, rows = result_rows(result)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in rows:
        writer.writerow(["" if v is None else (v if isinstance(v, (int, float, str)) else format_value(v, c))
                         for c, v in zip(columns, row)])
    return buffer.getvalue().encode("utf-8")


def register(app, deps) -> None:
    def ack_action(ack):
        ack()

    def export(body, action, client):
        channel, thread_ts = message_location(body)
        user = (body.get("user") or {}).get("id")
        if not is_allowed(deps.settings, channel, user):
            client.chat_postEphemeral(channel=channel, user=user, text=not_enabled_message(channel))
            return
        try:
            tool, arguments = parse_tool_call_value(action["value"])
            result = deps.run_tool(tool, arguments)
            client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=csv_bytes(result),
                                   filename=f"{tool}.csv", title=f"{tool.replace('_', ' ')} export",
                                   initial_comment=f"<@{user}> here is the CSV.")
        except Exception:
            log.exception("CSV export failed for %r", action.get("value"))
            replace_with_error(client, channel, None, thread_ts, "Sorry, the export failed (the error is logged).")

    app.action(EXPORT_CSV)(ack=ack_action, lazy=[deps.limited(export)])
