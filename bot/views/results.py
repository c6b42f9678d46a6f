"""Block Kit for a tool's typed result: header, summary, key figures as fields, lists as `table`
blocks, forecasts as a native chart. Pure functions: result in, blocks out."""
from __future__ import annotations

from typing import Any

from bot.views import blocks as bk
from bot.views.charts import forecast_chart
from bot.views.format import format_value, humanize, is_personal_field, plain

TOOL_TITLES = {
    "lookup_customer": "Customer",
    "analyze_customers": "Customers",
    "analyze_segments": "Segments",
    "segment_info": "Segment / archetype",
    "analyze_products": "Products",
    "forecast_metrics": "Forecast",
    "target_campaign": "Campaign",
    "analyze_behavior": "Behaviour change",
    "get_recommendations": "Recommendations",
}
_SKIP = {"tool", "summary"}
MAX_FIELD_PAIRS = 20


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool)) or type(value).__name__ in (
        "Decimal", "date", "datetime")


def _is_row_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def table_of(rows: list[dict[str, Any]]) -> list[bk.Block]:
    """A list of records as table blocks; columns are the records' keys minus personal fields."""
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns and not is_personal_field(key):
                columns.append(key)
    columns = columns[: bk.MAX_TABLE_CELLS]
    numeric = [all(isinstance(r.get(c), (int, float)) or r.get(c) is None for r in rows)
               and any(isinstance(r.get(c), (int, float)) for r in rows) for c in columns]
    body = [[format_value(row.get(c), c) for c in columns] for row in rows]
    return bk.tables([humanize(c) for c in columns], body, numeric)


def result_title(result: Any) -> str:
    tool = getattr(result, "tool", "") or ""
    return TOOL_TITLES.get(tool, humanize(tool) or "Answer")


def render_result(result: Any, *, with_header: bool = True, with_summary: bool = True) -> list[bk.Block]:
    """Blocks for any ToolResult: the summary, scalar figures, each list as a table, charts."""
    data = plain(result)
    out: list[bk.Block] = []
    if with_header:
        out.append(bk.header(result_title(result)))
    if with_summary and data.get("summary"):
        out.extend(bk.sections(data["summary"]))
    chart = forecast_chart(data)
    if chart is not None:
        out.append(chart)
    pairs: list[tuple[str, str]] = []
    lists: list[tuple[str, Any]] = []
    for key, value in data.items():
        if key in _SKIP or key.endswith("_path") or is_personal_field(key):
            continue  # file paths are for the export button, not for the channel
        if _is_scalar(value):
            if isinstance(value, str) and len(value) > 300:
                lists.append((key, value))
            else:
                pairs.append((humanize(key), format_value(value, key)))
        elif isinstance(value, dict) and all(_is_scalar(v) for v in value.values()) and key not in ("filters",):
            # A nested block of figures (e.g. totals for the whole matching set) reads best as fields.
            pairs.extend((humanize(k), format_value(v, k)) for k, v in value.items() if not is_personal_field(k))
        elif isinstance(value, dict):
            if value:
                pairs.append((humanize(key), format_value(value, key)))
        else:
            lists.append((key, value))
    if pairs:
        out.extend(bk.fields_section(pairs[:MAX_FIELD_PAIRS]))
    for key, value in lists:
        if chart is not None and key in chart.get("_source_fields", ()):
            continue
        if _is_row_list(value):
            out.append(bk.context(f"*{humanize(key)}* ({len(value):,})"))
            out.extend(table_of(value))
        elif isinstance(value, list) and value:
            bullet = "\n".join(f"• {format_value(v, key)}" for v in value)
            out.extend(bk.sections(f"*{humanize(key)}*\n{bullet}"))
        elif isinstance(value, str):
            out.extend(bk.sections(f"*{humanize(key)}*\n{value}"))
    for block in out:
        block.pop("_source_fields", None)
    return out


def result_rows(result: Any) -> tuple[list[str], list[list[Any]]]:
    """The result's largest list of records as CSV-ready columns and rows (no personal fields)."""
    data = plain(result)
    candidates = [v for k, v in data.items() if _is_row_list(v) and not is_personal_field(k)]
    if not candidates:
        return [], []
    rows = max(candidates, key=len)
    columns = [c for c in dict.fromkeys(k for r in rows for k in r) if not is_personal_field(c)]
    return columns, [[r.get(c) for c in columns] for r in rows]
