"""store_metrics as Block Kit: the period's figures, a comparison as a two-column table with the
change, and a time breakdown as Slack's native chart (net revenue) above its table. Pure functions."""
from __future__ import annotations

from typing import Any

from bot.views import blocks as bk
from bot.views.charts import MAX_CATEGORIES

TIME_BREAKDOWNS = ("day", "week", "month", "quarter", "year")
# Shown for each kind of row; None values (figures that do not apply to a row) leave a dash.
_FIGURES = (
    ("net_revenue", "Net revenue", "money"), ("gross_sales", "Gross sales", "money"),
    ("returns", "Returns", "money"), ("discounts", "Discounts given", "money"),
    ("orders", "Orders", "count"), ("units", "Units", "count"),
    ("average_order_value", "Average order value", "money"), ("active_customers", "Customers", "count"),
    ("new_customers", "New customers", "count"), ("returning_customers", "Returning customers", "count"),
    ("return_rate", "Return rate", "rate"), ("repeat_customer_share", "Repeat-customer share", "rate"),
    ("guest_orders", "Guest orders", "count"),
)
_ROW_COLUMNS = ("net_revenue", "orders", "average_order_value", "active_customers", "new_customers", "return_rate")
_LINE_COLUMNS = ("net_revenue", "gross_sales", "returns", "orders", "units", "active_customers", "return_rate")


def show(value: Any, kind: str) -> str:
    """Money to the cent, counts with separators, rates as percents; a dash where nothing applies."""
    if value is None:
        return "–"
    if kind == "money":
        return f"{value:,.2f}"
    if kind == "rate":
        return f"{value:.1%}"
    if kind == "change_pct":
        return f"{value:+.1%}"
    return f"{value:,.0f}" if isinstance(value, (int, float)) else str(value)


_KINDS = {name: kind for name, _, kind in _FIGURES}
_LABELS = {name: label for name, label, _ in _FIGURES}


def _change(value: Any, kind: str) -> str:
    if value is None:
        return "–"
    if kind == "rate":
        return f"{value * 100:+.1f} pts"
    return ("+" if value > 0 else "") + show(value, kind)


def comparison_table(data: dict[str, Any]) -> list[bk.Block]:
    columns = ["Figure", "This period", "Compared with", "Change", "% change"]
    rows = [[_LABELS.get(c["figure"], c["figure"]), show(c["current"], _KINDS.get(c["figure"], "count")),
             show(c["previous"], _KINDS.get(c["figure"], "count")), _change(c["change"], _KINDS.get(c["figure"], "count")),
             show(c["change_pct"], "change_pct")] for c in data.get("comparison") or []]
    return bk.tables(columns, rows, [False, True, True, True, True])


def breakdown_chart(data: dict[str, Any]) -> dict[str, Any] | None:
    """Net revenue per time bucket: bars for up to 20 buckets, a line over the latest 20 beyond."""
    if data.get("breakdown_by") not in TIME_BREAKDOWNS or not data.get("rows"):
        return None
    rows = data["rows"][-MAX_CATEGORIES:]
    points = [{"label": str(r["label"])[:20], "value": round(float(r["net_revenue"]), 2)} for r in rows]
    return {
        "type": "data_visualization",
        "title": f"Net revenue by {data['breakdown_by']}"[:50],
        "chart": {"type": "bar" if len(data["rows"]) <= MAX_CATEGORIES else "line",
                  "series": [{"name": "Net revenue", "data": points}],
                  "axis_config": {"categories": [p["label"] for p in points], "x_label": data["breakdown_by"].capitalize(),
                                  "y_label": "Net revenue"}},
    }


def breakdown_table(data: dict[str, Any]) -> list[bk.Block]:
    by = data.get("breakdown_by") or ""
    line_level = by in ("category", "product")
    names = _LINE_COLUMNS if line_level else _ROW_COLUMNS
    with_title = any(r.get("title") for r in data["rows"])
    columns = [by.capitalize()] + (["Name"] if with_title else []) + [_LABELS[n] for n in names]
    rows = [[r["label"]] + ([r.get("title") or "–"] if with_title else []) + [show(r.get(n), _KINDS[n]) for n in names]
            for r in data["rows"]]
    return bk.tables(columns, rows, [False] + ([False] if with_title else []) + [True] * len(names))


def metrics_card(data: dict[str, Any]) -> list[bk.Block]:
    """Header, the period's figures, then the comparison or the breakdown."""
    out: list[bk.Block] = [bk.header(f"Store figures · {data.get('period', '')}")]
    totals = data.get("totals") or {}
    out.extend(bk.fields_section([(label, show(totals.get(name), kind)) for name, label, kind in _FIGURES]))
    if data.get("comparison"):
        out.append(bk.context(f"*Compared with {data.get('compared_with')}*"))
        out.extend(comparison_table(data))
    if data.get("rows"):
        chart = breakdown_chart(data)
        if chart is not None:
            out.append(chart)
            if len(data["rows"]) > MAX_CATEGORIES:
                out.append(bk.context(f"The chart shows the latest {MAX_CATEGORIES} of {len(data['rows'])}; "
                                      "the table has them all."))
        out.append(bk.context(f"*By {data.get('breakdown_by')}* ({len(data['rows']):,})"))
        out.extend(breakdown_table(data))
    if data.get("notes"):
        out.append(bk.context(*[n for n in data["notes"]][: bk.MAX_CONTEXT_ELEMENTS]))
    return out
