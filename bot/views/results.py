"""Block Kit for a tool's typed result: header, summary, key figures as fields, lists as `table`
blocks, forecasts as a native chart. Pure functions: result in, blocks out."""
from __future__ import annotations

from typing import Any

from analytics.tools.registry import tool_info
from bot.views import blocks as bk
from bot.views.charts import forecast_chart, forecast_series
from bot.views.format import format_value, humanize, is_personal_field, plain
from bot.views.metrics import metrics_card

_SKIP = {"tool", "summary"}
MAX_FIELD_PAIRS = 20
# One table block per list: a channel gets one readable page, not dozens of messages.
MAX_ROWS_SHOWN = bk.MAX_TABLE_ROWS - 1


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
    info = tool_info(tool)
    return info.title if info is not None else (humanize(tool) or "Answer")


# Bookkeeping fields that mean nothing to a reader in a channel.
_NOISE = {"offset", "has_more", "run_id", "kind", "withheld", "method", "interval", "total_means",
          "has_profile", "history", "tenure_days", "probability_alive", "centroid"}
# Nested figures shown under their own names; any other nested block is labelled "Parent: name".
_UNPREFIXED = {"totals", "customer", "segment", "backtest"}
_RISK_EMOJI = {"low": "🟢", "medium": "🟡", "high": "🟠", "critical": "🔴"}


def _drop_empty_columns(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    keep = [k for k in dict.fromkeys(k for r in rows for k in r)
            if k not in _NOISE and any(r.get(k) not in (None, "", [], {}) for r in rows)]
    return [{k: r.get(k) for k in keep} for r in rows]


def _render_mapping(data: dict[str, Any], out: list[bk.Block], skip: set[str]) -> None:
    """Scalars and flat dicts as fields, lists of records as tables, lists of words as bullets,
    nested records (a customer inside a result) rendered the same way, one level down."""
    pairs: list[tuple[str, str]] = []
    later: list[tuple[str, Any]] = []
    for key, value in data.items():
        if key in skip or key in _NOISE or key.endswith("_path") or is_personal_field(key):
            continue  # file paths are for the export button, not for the channel
        if value is None or value == [] or value == {}:
            continue
        if _is_scalar(value):
            if isinstance(value, str) and len(value) > 300:
                later.append((key, value))
            else:
                pairs.append((humanize(key), format_value(value, key)))
        elif isinstance(value, dict) and all(_is_scalar(v) for v in value.values()) and key != "filters":
            if all(isinstance(k, str) and k.replace(".", "").isdigit() for k in value):
                # keyed by numbers (e.g. discount % -> customers): one readable field
                pairs.append((humanize(key), ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())))
            else:
                prefix = "" if key in _UNPREFIXED else humanize(key) + ": "
                # Under a prefix the entries are named by their keys (candidates, signals): the
                # field's own name says what kind of figure they are (a rate, a coverage, money).
                pairs.extend((prefix + (humanize(k) if not prefix else str(k)), format_value(v, k if not prefix else key))
                             for k, v in value.items()
                             if v is not None and k not in _NOISE and not is_personal_field(k))
        elif isinstance(value, dict) and key == "filters":
            pairs.append((humanize(key), format_value(value, key)))
        else:
            later.append((key, value))
    if pairs:
        out.extend(bk.fields_section(pairs[:MAX_FIELD_PAIRS]))
    for key, value in later:
        if _is_row_list(value) and len(value) == 1:
            # one record (an archetype card) reads better as fields than as a one-row table
            out.append(bk.context(f"*{humanize(key)}*"))
            _render_mapping(value[0], out, set())
        elif _is_row_list(value):
            shown = value[:MAX_ROWS_SHOWN]
            note = f" — first {len(shown):,} shown; *Export CSV* has them all" if len(shown) < len(value) else ""
            out.append(bk.context(f"*{humanize(key)}* ({len(value):,}){note}"))
            out.extend(table_of(_drop_empty_columns(shown)))
        elif isinstance(value, dict):
            out.append(bk.context(f"*{humanize(key)}*"))
            _render_mapping(value, out, set())
        elif isinstance(value, list):
            bullet = "\n".join(f"• {format_value(v, key)}" for v in value)
            out.extend(bk.sections(f"*{humanize(key)}*\n{bullet}"))
        elif isinstance(value, str):
            out.extend(bk.sections(f"*{humanize(key)}*\n{value}"))


def _last_order(c: dict[str, Any]) -> str:
    """Days since the last order, or why there is no such number (never a bare "– days ago")."""
    days = c.get("days_since_last_order")
    if days is not None:
        return "today" if days == 0 else f"{days:,} day{'s' if days != 1 else ''} ago"
    return "no orders yet" if not c.get("orders") else "unknown"


def customer_card(data: dict[str, Any]) -> list[bk.Block]:
    """lookup_customer: the risk card /churn-check shows."""
    c = data["customer"]
    risk = c.get("risk_level")
    scored = c.get("has_profile", True) and c.get("churn_probability") is not None
    churn = (f"{_RISK_EMOJI.get(risk, '')} {format_value(c.get('churn_probability'), 'churn_probability')} "
             f"({risk or 'not scored'})").strip() if scored else "not scored yet (newer than the last discovery run)"
    out: list[bk.Block] = [bk.header(f"Customer {c['public_id']}")]
    out.extend(bk.fields_section([
        ("Churn risk", churn),
        ("Value tier", format_value(c.get("value_tier"))),
        ("Lifetime value", format_value(c.get("lifetime_value"), "lifetime_value")),
        ("Orders", format_value(c.get("orders"))),
        ("Average order", format_value(c.get("average_order_value"), "average_order_value")),
        ("Last order", _last_order(c)),
        ("Predicted value (12 months)", format_value(c.get("predicted_value_12m"), "predicted_value_12m")),
        ("Expected orders (90 days)", format_value(c.get("expected_purchases_90d"))),
        ("Archetype", format_value(c.get("archetype_name"))),
        ("Suggested offer", (c.get("compensation") or {}).get("label") or "–"),
    ]))
    segments = c.get("dominant_segments") or []
    if segments:
        out.append(bk.context("Segments: " + ", ".join(
            f"{s['axis']}: {s['segment']}" + (f" ({format_value(s.get('membership'), 'membership')})" if s.get("membership") is not None else "")
            for s in segments)))
    notes = list(c.get("churn_reasons") or []) + [r["detail"] for r in c.get("open_risks") or []]
    if notes:
        out.extend(bk.sections("*Why*\n" + "\n".join(f"• {n}" for n in dict.fromkeys(notes))))
    if c.get("recent_orders"):
        out.append(bk.context("*Recent orders*"))
        out.extend(table_of(c["recent_orders"]))
    return out


def forecast_card(data: dict[str, Any]) -> list[bk.Block]:
    """forecast_metrics: the chart, the total with its interval, and how far to trust it."""
    out: list[bk.Block] = [bk.header(f"{humanize(str(data.get('metric', 'metric')))} forecast")]
    chart = forecast_chart(data)
    if chart is not None:
        out.append(chart)
    pairs = [
        ("Total", format_value(data.get("total"), "total")),
        (f"{format_value(data.get('interval'), 'share')} interval",
         f"{format_value(data.get('lower'), 'lower')} – {format_value(data.get('upper'), 'upper')}"),
        ("Period", f"{format_value(data.get('start'))} to {format_value(data.get('end'))}"),
        ("Horizon", f"{data.get('horizon')} {data.get('unit')}"
                    + (f" (shown by {data['bucket']})" if data.get("bucket") and data.get("bucket") != data.get("unit") else "")),
    ]
    backtest = data.get("backtest") or {}
    if backtest:
        candidates = backtest.get("candidates") or {}
        if candidates:
            # Every model the forecast chose between, with its backtest error: the lowest was used.
            pairs.append(("Backtest error (weighted)", " · ".join(
                f"{name} {format_value(err, 'rate')}" for name, err in sorted(candidates.items(), key=lambda kv: kv[1]))))
            coverage = backtest.get("candidate_coverage") or {}
            pairs.append(("80% interval held", " · ".join(
                f"{name} {format_value(coverage[name], 'coverage')}"
                for name, _ in sorted(candidates.items(), key=lambda kv: kv[1]) if name in coverage)
                if coverage else format_value(backtest.get("interval_coverage"), "coverage")))
        else:
            pairs.append(("Backtest error (weighted)",
                          f"{format_value(backtest.get('model_wmape'), 'rate')} vs {format_value(backtest.get('baseline_wmape'), 'rate')} "
                          f"for {backtest.get('baseline', 'the baseline')} ({backtest.get('holdout_weeks')} weeks held out)"))
    repeat = data.get("repeat_purchases") or {}
    if repeat.get("expected_repeat_purchases") is not None:
        pairs.append(("Repeat purchases expected", format_value(repeat["expected_repeat_purchases"])))
    out.extend(bk.fields_section(pairs))
    notes = [n for n in (data.get("fallback_reason"), data.get("backtest_note")) if n]
    if notes:
        out.append(bk.context(*notes))
    return out


# The dedicated views a tool can ask for with `@tool(card=...)`.
CARDS = {"customer": customer_card, "forecast": forecast_card, "metrics": metrics_card}


def render_result(result: Any, *, with_header: bool = True, with_summary: bool = True) -> list[bk.Block]:
    """Blocks for any ToolResult: the summary, scalar figures, each list as a table, charts."""
    data = plain(result)
    out: list[bk.Block] = []
    info = tool_info(data.get("tool", ""))
    specific = CARDS.get(info.card) if info is not None and info.card else None
    if specific is customer_card and not isinstance(data.get("customer"), dict):
        specific = None
    if specific is forecast_card and "total" not in data:
        specific = None
    if specific is not None and with_header:
        out.extend(specific(data)[:1])
    elif with_header:
        out.append(bk.header(result_title(result)))
    if with_summary and data.get("summary"):
        out.extend(bk.sections(data["summary"]))
    if specific is not None:
        out.extend(specific(data)[1:])
        return out
    chart = forecast_chart(data)
    skip = set(_SKIP)
    if chart is not None:
        skip |= set(forecast_series(data)["fields"])  # those points are in the chart, not a table
        out.append(chart)
    _render_mapping(data, out, skip)
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
