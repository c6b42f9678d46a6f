"""A tool call's answer as a CSV file: what Slack's "Export CSV" uploads and the console's typed
"export csv" writes. A customer list exports everyone matching its filters, not the page shown
(analyze_customers' own `export_rows`, capped with a note). A campaign's own export (the whole
selection, for the store's marketing tool) holds contact details, so this one leaves them out:
customers by C-XXXXXXXX id, as everywhere in chat."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from analytics.core import ToolContext
from analytics.tools import analyze_customers as customers_tool
from analytics.tools.registry import validate_arguments
from bot.views.format import format_value, is_personal_field
from bot.views.results import result_rows
from sql.safe_files import safe_row

_EXPORT_PATH_FIELDS = ("export_path", "csv_path")
SAVED_NOTE = "The file with contact details for the marketing tool is saved on the bot's server (DATA_DIR/exports)."


def _write(columns: list[str], rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(safe_row(columns))
    for row in rows:  # formula-like text gets an apostrophe (CSV injection); numbers stay numbers
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


def export_csv(ctx: ToolContext, tool: str, arguments: dict[str, Any], result: Any) -> tuple[bytes, str | None]:
    """The CSV for a tool call's answer and a note for the reader (a capped file, a saved file).
    A real customer list is exported whole from the database; any other answer from its rows."""
    if isinstance(result, customers_tool.AnalyzeCustomersResult):
        export = customers_tool.export_rows(ctx, validate_arguments(tool, arguments))
        return _write(export.columns, [list(r) for r in export.rows]), export.note
    return csv_bytes(result), (SAVED_NOTE if export_file(result) is not None else None)


