""""Export CSV": re-runs the list's tool call and uploads the rows as a CSV file in the thread.
A customer list exports everyone matching its filters, not the page shown (analyze_customers'
own `export_rows`, capped with a note).
A campaign's own export (the whole selection, for the store's marketing tool) holds contact
details, so Slack gets it without them: customers by C-XXXXXXXX id, as everywhere in chat."""
from __future__ import annotations

import csv
import io
import logging
from pathlib import Path
from typing import Any

# Through the catalog, not the tool module alone: the registry loads every tool only while it is
# empty, so importing one tool module first would leave the others unregistered.
from analytics.tools.catalog import analyze_customers as customers_tool
from analytics.tools.registry import ToolError, validate_arguments
from bot.access import is_allowed, not_enabled_message
from bot.delivery import replace_with_error
from bot.listeners.actions.common import message_location
from bot.views.answer import EXPORT_CSV, parse_tool_call_value
from bot.views.format import format_value, is_personal_field
from bot.views.results import result_rows
from sql.safe_files import safe_row

log = logging.getLogger(__name__)
_EXPORT_PATH_FIELDS = ("export_path", "csv_path")
SAVED_NOTE = "The file with contact details for the marketing tool is saved on the bot's server (DATA_DIR/exports)."


def _write(columns: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(columns))
    for row in rows:
        writer.writerow(safe_row(["" if v is None else (v if isinstance(v, (int, float, str)) else format_value(v, c))
                         for c, v in zip(columns, row)]))
    return buffer.getvalue().encode("utf-8")


def export_file(result: Any) -> Path | None:
    for name in _EXPORT_PATH_FIELDS:
        value = getattr(result, name, None)
        if value and Path(value).is_file():
            return Path(value)
    return None


def csv_bytes(result: Any) -> bytes:
    """The tool's own export without its personal columns when it has one (every selected
    customer, not just the preview), else the result's largest list; never personal fields."""
    path = export_file(result)
    if path is not None:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, [])
            # In a customer export a bare "name" is the person's name (elsewhere it names segments).
            keep = [i for i, column in enumerate(header)
                    if not is_personal_field(column) and column.strip().lower() != "name"]
            return _write([header[i] for i in keep], [[row[i] for i in keep] for row in reader])
    columns, rows = result_rows(result)
    return _write(columns, rows)


def export_csv(deps, tool: str, arguments: dict[str, Any], result: Any) -> tuple[bytes, str | None]:
    """The CSV for a tool call's answer and a note for the reader (a capped file, a saved file).
    A real customer list is exported whole from the database; any other answer from its rows."""
    if isinstance(result, customers_tool.AnalyzeCustomersResult):
        export = customers_tool.export_rows(deps.ctx, validate_arguments(tool, arguments))
        return _write(export.columns, [list(r) for r in export.rows]), export.note
    return csv_bytes(result), (SAVED_NOTE if export_file(result) is not None else None)


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
            content, note = export_csv(deps, tool, arguments, result)
            comment = f"<@{user}> here is the CSV." + (f" {note}" if note else "")
            client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=content,
                                   filename=f"{tool}.csv", title=f"{tool.replace('_', ' ')} export",
                                   initial_comment=comment)
        except ToolError as exc:
            # Something the user can act on (a segment gone from the newer run, no run yet): say it.
            replace_with_error(client, channel, None, thread_ts, f"The export could not run: {exc}")
        except Exception:
            log.exception("CSV export failed for %r", action.get("value"))
            replace_with_error(client, channel, None, thread_ts, "Sorry, the export failed (the error is logged).")

    app.action(EXPORT_CSV)(ack=ack_action, lazy=[deps.limited(export)])
