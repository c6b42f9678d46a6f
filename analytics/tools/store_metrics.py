"""store_metrics: the store's own figures for a period — net revenue, gross sales, returns, discounts,
orders, units, average order value, active / new / returning customers, return rate, repeat-customer
share, guest orders — optionally broken down (day, week, month, quarter, year, category, product,
country, segment, archetype) and compared with the previous period or the same period a year before.

Definitions (one for every surface, DESIGN.md): sales are `kind = 'sale'` orders, guest orders
included (they count in revenue and orders, not in customers); line value = quantity × unit price −
line discount; returns are return orders, dated when returned; net revenue = gross sales − returns;
AOV = gross sales / sale orders; return rate = returns / gross sales; active customers placed a sale
order in the period; a new customer's first sale order ever falls in the period; returning = active −
new; repeat-customer share = active customers with two or more sale orders in the period / active.
Periods are measured from the latest order in the data.
"""
from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from analytics.core import PERIOD_HELP, Axis, ToolContext, ToolError, ToolInput, ToolResult, current_run
from analytics.periods import ALL_HISTORY, Period, parse_period
from analytics.privacy import SMALL_GROUP_LABEL, is_small_group
from analytics.tools.common import cached, exact_money, read_cursor
from analytics.router import slots
from analytics.router.patterns import P_DISCOUNT_DEP, P_FORECAST, P_RECS
from analytics.tools.registry import MenuEntry, OfflinePhrases, tool
from sql import query

TIME_BREAKDOWNS = ("day", "week", "month", "quarter", "year")
LINE_BREAKDOWNS = ("category", "product")
GROUP_BREAKDOWNS = ("country", "segment", "archetype")   # groups of customers: the small-group rule applies
MAX_TIME_ROWS = 400


class StoreMetricsInput(ToolInput):
    """The store's figures for a period, optionally broken down and compared."""

    period: str | None = Field(None, max_length=40, description=PERIOD_HELP)
    breakdown: Literal["day", "week", "month", "quarter", "year", "category", "product", "country", "segment",
                       "archetype"] | None = Field(None, description="Split the figures by time bucket, product "
                                                                     "category, product, country, segment or archetype.")
    axis: Axis | None = Field(None, description="For breakdown=segment: the behavioural axis (default value).")
    compare: Literal["previous_period", "last_year"] | None = Field(
        None, description="Compare with the period just before (same length) or the same dates a year earlier.")
    limit: int = Field(20, ge=1, le=100, description="Rows of a category / product / country breakdown.")


class Figures(BaseModel):
    """One set of store figures; None where a figure does not apply (e.g. new customers by product)."""

    net_revenue: float
    gross_sales: float
    returns: float
    discounts: float
    orders: int
    units: int
    average_order_value: float | None
    active_customers: int
    new_customers: int | None
    returning_customers: int | None
    return_rate: float | None
    repeat_customer_share: float | None
    guest_orders: int


class BreakdownRow(Figures):
    label: str
    title: str | None = None


class Change(BaseModel):
    figure: str
    current: float | None
    previous: float | None
    change: float | None
    change_pct: float | None


class StoreMetricsResult(ToolResult):
    period: str
    start: date | None
    end: date | None            # the last day, inclusive
    totals: Figures
    breakdown_by: str | None = None
    rows: list[BreakdownRow] = []
    compared_with: str | None = None
    comparison: list[Change] = []
    notes: list[str] = []


def _figures(row: dict, *, order_level: bool = True) -> dict:
    gross, returns = float(row["gross_sales"]), float(row["returns"])
    orders, active = int(row["orders"]), int(row["active_customers"])
    new = int(row["new_customers"]) if order_level else None
    return {
        "net_revenue": round(gross - returns, 2), "gross_sales": round(gross, 2), "returns": round(returns, 2),
        "discounts": round(float(row["discounts"]), 2), "orders": orders, "units": int(row["units"]),
        "average_order_value": round(gross / orders, 2) if orders and order_level else None,
        "active_customers": active, "new_customers": new,
        "returning_customers": active - new if new is not None else None,
        "return_rate": round(returns / gross, 4) if gross > 0 else None,
        "repeat_customer_share": (round(int(row["repeat_customers"]) / active, 4) if active else None)
        if order_level else None,
        "guest_orders": int(row["guest_orders"]),
    }


def _period_bounds(period: Period) -> dict:
    start, end = period.bounds()
    return {"start": start, "end": end}


def _shifted(period: Period, how: str) -> Period:
    """The comparison period: the same length just before, or the same dates a year earlier."""
    if period.is_all:
        raise ToolError("A comparison needs a period (e.g. 'this_year' or '2024-11'), not all history.")
    if how == "last_year":
        def back(day: date) -> date:
            try:
                return day.replace(year=day.year - 1)
            except ValueError:  # 29 February
                return day.replace(year=day.year - 1, day=28)
        start, end = back(period.start), back(period.end)
        return Period(start, end, "same dates a year earlier")
    length = period.end - period.start
    return Period(period.start - length, period.start, "previous period")


def _order_figures(ctx: ToolContext, period: Period, by: str, axis: str | None, run_id: int | None) -> list[dict]:
    with read_cursor(ctx) as cur:
        cur.execute(query("metrics.order_figures"),
                    {**_period_bounds(period), "by": by, "axis": axis, "run_id": run_id})
        return [dict(r) for r in cur.fetchall()]


def _totals(ctx: ToolContext, period: Period) -> Figures:
    rows = _order_figures(ctx, period, "none", None, None)
    empty = {"gross_sales": 0, "returns": 0, "discounts": 0, "orders": 0, "guest_orders": 0, "units": 0,
             "active_customers": 0, "new_customers": 0, "repeat_customers": 0}
    return Figures(**_figures(rows[0] if rows else empty))


def _compare(current: Figures, previous: Figures) -> list[Change]:
    out = []
    for name in ("net_revenue", "gross_sales", "returns", "orders", "average_order_value", "active_customers",
                 "new_customers", "return_rate", "discounts", "units"):
        now, before = getattr(current, name), getattr(previous, name)
        change = None if now is None or before is None else round(now - before, 4)
        change_pct = round(change / before, 4) if change is not None and before else None
        out.append(Change(figure=name, current=now, previous=before, change=change, change_pct=change_pct))
    return out


def _breakdown(ctx: ToolContext, params: StoreMetricsInput, period: Period, run_id: int | None,
               notes: list[str]) -> list[BreakdownRow]:
    by = params.breakdown
    if by in LINE_BREAKDOWNS:
        with read_cursor(ctx) as cur:
            cur.execute(query("metrics.line_figures"), {**_period_bounds(period), "by": by, "limit": params.limit})
            rows = [dict(r) for r in cur.fetchall()]
        notes.append(f"By {by}: an order holding several {by}s counts once in each; new and returning customers "
                     "and the average order value are figures of whole orders, so they are left out here.")
        return [BreakdownRow(label=r["label"], title=r.get("title"), **_figures(r, order_level=False)) for r in rows]
    if by in ("segment", "archetype") and run_id is None:
        raise ToolError("Segments and archetypes come from discovery: run `python app.py discover` first.")
    axis = (params.axis or "value") if by == "segment" else None
    rows = _order_figures(ctx, period, by, axis, run_id)
    if by in TIME_BREAKDOWNS and len(rows) > MAX_TIME_ROWS:
        raise ToolError(f"That is {len(rows):,} {by}s: too many to show. Pick a shorter period or a coarser breakdown "
                        "(week, month, quarter).")
    out = [BreakdownRow(label=r["label"], **_figures(r)) for r in rows]
    if by == "archetype":
        with read_cursor(ctx) as cur:
            cur.execute(query("metrics.archetype_names"), {"run_id": run_id})
            names = {r["archetype_id"]: r["name"] for r in cur.fetchall()}
        for row in out:
            row.title = names.get(row.label)
    if by == "segment":
        notes.append(f"Segments on the {axis} axis of the current discovery run.")
    if by in GROUP_BREAKDOWNS:
        out = _fold_small(ctx, out)
        out.sort(key=lambda r: (r.label == SMALL_GROUP_LABEL, -r.net_revenue))
        if len(out) > params.limit:
            notes.append(f"Showing the {params.limit} largest of {len(out)} {by} rows.")
            out = out[: params.limit]
    return out


def _fold_small(ctx: ToolContext, rows: list[BreakdownRow]) -> list[BreakdownRow]:
    """Groups of a few customers would describe those people: fold them into one row (guest orders,
    which are no one's in particular, stay as they are)."""
    kept, small = [], []
    for row in rows:
        (small if is_small_group(ctx, row.active_customers) and row.label != "guest orders" else kept).append(row)
    if not small:
        return kept
    total = {key: sum(getattr(r, key) or 0 for r in small)
             for key in ("gross_sales", "returns", "discounts", "orders", "units", "active_customers", "guest_orders")}
    kept.append(BreakdownRow(label=SMALL_GROUP_LABEL, net_revenue=round(total["gross_sales"] - total["returns"], 2),
                             gross_sales=round(total["gross_sales"], 2), returns=round(total["returns"], 2),
                             discounts=round(total["discounts"], 2), orders=total["orders"], units=total["units"],
                             average_order_value=None, active_customers=total["active_customers"],
                             new_customers=None, returning_customers=None, return_rate=None,
                             repeat_customer_share=None, guest_orders=total["guest_orders"]))
    return kept


def _describe(period: Period) -> str:
    """'this year (2024-01-01 to 2024-12-31)': the period as people say it, with its dates."""
    return period.describe().replace("_", " ")


def _rate(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _summary(period: Period, totals: Figures, compared: Period | None, changes: list[Change],
             breakdown: str | None) -> str:
    where = _describe(period)
    text = (f"{where[0].upper() + where[1:]}: net revenue {exact_money(totals.net_revenue)} (gross sales "
            f"{exact_money(totals.gross_sales)}, returns {exact_money(totals.returns)}), {totals.orders:,} orders, "
            f"average order value {exact_money(totals.average_order_value)}, {totals.active_customers:,} customers "
            f"({totals.new_customers:,} new), return rate {_rate(totals.return_rate)}.")
    if compared is not None:
        by_name = {c.figure: c for c in changes}
        parts = []
        for name, label in (("net_revenue", "net revenue"), ("orders", "orders"), ("average_order_value", "AOV")):
            c = by_name[name]
            if c.change_pct is not None:
                direction = "up" if c.change_pct > 0 else "down" if c.change_pct < 0 else "flat"
                shown = exact_money(c.previous) if name != "orders" else f"{int(c.previous or 0):,}"
                parts.append(f"{label} {direction} {abs(c.change_pct):.0%} (was {shown})")
        text += f" Against {_describe(compared)}: " + ("; ".join(parts) if parts else "no sales then to compare") + "."
    if breakdown:
        text += f" Broken down by {breakdown}."
    return text


# --- the offline router's vocabulary for store figures ---------------------------------------------

P_FIGURES = re.compile(
    r"\b(average (?:order|basket|cart|sale|ticket)s?(?: size| value| amount)?|aov|basket size|order value|"
    r"return rate|returns? rate|refund rate|(?:%|percent(?:age)?|share) of (?:orders|sales) (?:are |get |were )?returned|"
    r"how many (?:orders|customers|new customers|returning customers|active customers|buyers|shoppers|sales|units|guest)|"
    r"number of (?:orders|customers|new customers|buyers)|new customers|returning customers|active customers|"
    r"repeat (?:customer|purchase|buyer)s? (?:rate|share|percentage)|"
    r"net revenue|gross sales|total (?:revenue|sales|orders)|revenue|sales|turnover|takings|"
    r"discounts? (?:given|total|we gave|cost|spent)|(?:gave|give) away in discounts|total discounts?|"
    r"units sold|guest orders|orders|how much (?:did|have|do) we (?:sell|sold|make|made|earn|take|give)|"
    r"how (?:did|are|were|is) (?:we|the store|the shop|business) (?:do|doing|perform\w*)|kpis?|"
    r"store (?:figures|metrics|numbers|stats)|how did \w+(?: \d{4})? (?:compare|do|go))\b")
# Asking for a list or a ranking of people, the future, or a named group belongs to another tool.
_NOT_FIGURES = re.compile(
    r"\b(top|best|biggest|worst|which customers|who|whom|list|rank\w*|forecast\w*|predict\w*|project\w*|expect\w*|"
    r"will we|going to|next (?:week|month|quarter|year|\d+)|coming|churn\w*|at risk|campaign|target\w*|"
    r"recommend\w*|segments?|archetypes?|personas?|bought together|sells? with|sold with|products?|categor\w+|"
    r"items?|skus?|vips?|whales?|risk|lapsed|lapsing|most|least|fewest|highest|lowest)\b")
# Words that make a segment or archetype breakdown a question about money or orders, not sizes.
_MONEY_OR_ORDERS = re.compile(r"\b(revenue|sales|orders|aov|order value|spend|spent|returns?|discounts?|units)\b")
_BREAKDOWN = re.compile(r"\b(?:by|per|each|every|split by|broken down by)\s+(day|week|month|quarter|year|country|"
                        r"segment|archetype)s?\b|\b(daily|weekly|monthly|quarterly|yearly|annual(?:ly)?)\b|"
                        r"\b(?:which|what|each|per) (country|countries)\b|\bcountries\b")
_ADVERBS = {"daily": "day", "weekly": "week", "monthly": "month", "quarterly": "quarter", "yearly": "year",
            "annual": "year", "annually": "year", "countries": "country"}
_VS_LAST_YEAR = re.compile(r"\b(?:vs\.?|versus|compared? (?:to|with)|against|on|than|over|from)\s+(?:the\s+)?"
                           r"(?:same (?:\w+ )?(?:last|previous|prior) year|(?:last|previous|prior) year(?:'s)?)\b|"
                           r"\byear[- ]over[- ]year\b|\byoy\b|\bsame (?:period|time|month|quarter|week) last year\b")
_VS_BEFORE = re.compile(r"\b(?:vs\.?|versus|compared? (?:to|with)|against|on|than|over|from)\s+(?:the\s+)?"
                        r"(?:(?:last|previous|prior) (?:week|month|quarter|period)|(?:\w+ )?(?:days?|weeks?|months?) before|"
                        r"period before|one before|previous one)\b|\bperiod over period\b")
_MONTHS = ("january february march april may june july august september october november december").split()
_YEARS = re.compile(r"\b(19\d\d|20\d\d)\b")


def _two_named(text: str, anchor) -> tuple[str, str] | None:
    """'compare 2023 and 2024', 'november vs october': the later one, and how the other relates to it."""
    years = sorted({int(y) for y in _YEARS.findall(text)})
    if len(years) == 2 and years[1] - years[0] == 1 and re.search(r"\b(compare|vs|versus|against|and|to|with)\b", text):
        return str(years[1]), "last_year"
    named = [m for m in _MONTHS if re.search(rf"\b{m}\b", text)]
    if len(named) == 2 and anchor is not None:
        periods = sorted(p for p in (slots.period(f"in {m}", anchor) for m in named) if p)
        if len(periods) == 2:
            (y0, m0), (y1, m1) = (map(int, p.split("-")) for p in periods)
            if (y1 * 12 + m1) - (y0 * 12 + m0) == 1:
                return periods[1], "previous_period"
            if y1 - y0 == 1 and m0 == m1:
                return periods[1], "last_year"
    return None


def figures_arguments(parsed) -> dict | None:
    """The store_metrics call for a question about the store's own figures, or None when the
    question is about people, products, a named group or the future (other tools answer those)."""
    text = parsed.text
    found = _BREAKDOWN.search(text)
    breakdown = None
    if found:
        word = next(g for g in found.groups() if g)
        breakdown = _ADVERBS.get(word, word)
    blocker = _NOT_FIGURES.search(text)
    if P_FORECAST.search(text) or P_RECS.search(text) or P_DISCOUNT_DEP.search(text):
        return None
    if breakdown in ("segment", "archetype") and not _MONEY_OR_ORDERS.search(text):
        return None   # 'how many customers in each segment' is the segments overview
    # 'new customers' is a figure here (first orders in a period), not the value tier of that name.
    tier = None if parsed.value_tier == "new" and re.search(r"\bnew customers\b", text) else parsed.value_tier
    if parsed.customers or parsed.categories or parsed.bought_with or tier or parsed.risk_level:
        return None
    if parsed.segments or parsed.archetype:
        return None
    if blocker and not (breakdown in ("segment", "archetype") and blocker.group(1).startswith(("segment", "archetype"))):
        # 'which country brings the most revenue', 'the best month': ranks of the breakdown, not of people
        ranks = ("top", "best", "biggest", "worst", "most", "least", "fewest", "highest", "lowest")
        if not (breakdown is not None and blocker.group(1) in ranks):
            return None
    arguments: dict = {}
    period = parsed.period
    paired = _two_named(text, parsed.anchor)
    if paired is not None:
        period, arguments["compare"] = paired
    elif _VS_LAST_YEAR.search(text):
        arguments["compare"] = "last_year"
        rest = _VS_LAST_YEAR.sub(" ", text)
        period = slots.period(rest, parsed.anchor) if parsed.anchor else None
        period = period or "this_year"
    elif _VS_BEFORE.search(text) or re.search(r"\bcompare[sd]?\b.*\b(before|previous|prior|last)\b", text):
        arguments["compare"] = "previous_period"
        rest = _VS_BEFORE.sub(" ", text)
        period = (slots.period(rest, parsed.anchor) if parsed.anchor else None) or period
        if period is None:
            return None  # previous to what? the menu or Claude asks
    if period is None:
        years = set(_YEARS.findall(text))
        period = years.pop() if len(years) == 1 else None   # 'total revenue 2024'
    if period:
        arguments["period"] = period
    if breakdown:
        arguments["breakdown"] = breakdown
        if breakdown == "segment" and parsed.axis:
            arguments["axis"] = parsed.axis
    return arguments


@tool("store_metrics",
      "The store's own figures for any period: net revenue, gross sales, returns, discounts, orders, units, "
      "average order value (AOV), active / new / returning customers, return rate, repeat-customer share and guest "
      "orders; optionally broken down by day, week, month, quarter, year, category, product, country, segment or "
      "archetype, and compared with the previous period or the same period last year (absolute and % change). "
      "Use for 'what's our average order value?', 'return rate this year', 'how many orders in November?', "
      "'how many customers do we have?', 'new customers in 2024', 'compare 2024 with 2023', 'revenue by month'.",
      title="Store figures", exportable=True, card="metrics",
      menu=(MenuEntry("store figures for the last 12 months, by month",
                      {"period": "last_12_months", "breakdown": "month"}),),
      warm=({}, {"period": "last_12_months", "breakdown": "month"}),
      offline=OfflinePhrases(P_FIGURES, figures_arguments))
def store_metrics(ctx: ToolContext, params: StoreMetricsInput) -> StoreMetricsResult:
    with read_cursor(ctx) as cur:
        cur.execute(query("metrics.latest_order"))
        latest = cur.fetchone()["latest_order_at"]
    if latest is None:
        raise ToolError("There are no orders yet: import some with `python app.py ingest FILE`.")
    period = parse_period(params.period, latest) if params.period else ALL_HISTORY
    run = current_run(ctx)
    run_id = run.run_id if run is not None else None
    key = f"{latest.isoformat()}:{params.model_dump_json()}"

    def compute() -> StoreMetricsResult:
        notes: list[str] = []
        totals = _totals(ctx, period)
        compared = _shifted(period, params.compare) if params.compare else None
        changes = _compare(totals, _totals(ctx, compared)) if compared is not None else []
        rows = _breakdown(ctx, params, period, run_id, notes) if params.breakdown else []
        if totals.guest_orders:
            notes.append(f"{totals.guest_orders:,} guest orders count in revenue and orders, not in customers.")
        last_day = period.end - timedelta(days=1) if period.end else None
        return StoreMetricsResult(
            tool="store_metrics", summary=_summary(period, totals, compared, changes, params.breakdown),
            period=_describe(period), start=period.start, end=last_day, totals=totals,
            breakdown_by=params.breakdown, rows=rows,
            compared_with=_describe(compared) if compared is not None else None, comparison=changes, notes=notes)

    return cached(ctx, "store_metrics", run_id or 0, key, compute, StoreMetricsResult)


