"""analyze_customers: customers ranked by churn risk, value, recency or frequency, with filters, and
totals over the whole matching set ("412 customers, 183k lifetime value at risk")."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics.core import (
    ARCHETYPE_HELP,
    PERIOD_HELP,
    SEGMENT_HELP,
    RiskLevel,
    RunInfo,
    ToolContext,
    ToolError,
    ToolInput,
    ToolResult,
    ValueTier,
    require_current_run,
)
from analytics.data_minimums import thin_data_note
from analytics.items import Item, resolve_item
from analytics.periods import ALL_HISTORY, Period, parse_period
from analytics.tools.common import archetype_filter, cached, money, num, pct, read_cursor, segment_filter
from analytics.tools.registry import MenuEntry, tool
from sql import query


class AnalyzeCustomersInput(ToolInput):
    """Lists of customers ranked by churn risk, value, recency or frequency, with filters."""

    sort_by: Literal["churn_risk", "value_at_stake", "value", "predicted_value", "recency", "frequency",
                     "bought"] = Field(
        "churn_risk", description="Ranking: churn_risk (highest churn probability first), value_at_stake (churn "
        "probability x recent annual spend: what losing them would cost), value (lifetime revenue), predicted_value "
        "(next 12 months), recency (longest since last order first), frequency (most orders), bought (spent the "
        "most on the `bought` product or category)."
    )
    bought: str | None = Field(None, max_length=120, description="Only customers who bought this product (SKU or "
                               "title words) or category; with sort_by=bought, the biggest buyers of it first.")
    period: str | None = Field(None, max_length=40, description="With `bought`: when they bought it. " + PERIOD_HELP)
    lifecycle: Lifecycle | None = Field(
        None, description="Only customers at this stage: new (first order in the last 90 days), active, at_risk "
        "(overdue against their own rhythm, or their chance of still being a customer falling: 'about to churn'), "
        "lapsed (gone: for win-back).")
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP)
    value_tier: ValueTier | None = Field(None, description="Only customers in this value tier.")
    risk_level: RiskLevel | None = Field(
        None, description="Only customers at this churn risk level or above ('high' keeps high and critical).")
    min_value: float | None = Field(None, ge=0, description="Minimum lifetime revenue in the store's currency.")
    limit: int = Field(10, ge=1, le=100, description="How many customers to list.")
    # Bounded: PostgreSQL's OFFSET is a bigint, and no store lists ten million customers.
    offset: int = Field(0, ge=0, le=10_000_000, description="Skip this many (for 'show more').")


RISK_ORDER = ("low", "medium", "high", "critical")
SORT_WORDS = {"churn_risk": "churn risk", "value_at_stake": "value at stake", "value": "lifetime value",
              "predicted_value": "predicted value", "recency": "longest since last order",
              "frequency": "number of orders", "bought": "spend on it"}
Lifecycle = Literal["new", "active", "at_risk", "lapsed"]


def _money(value) -> float | None:
    return None if value is None else round(float(value), 2)


class CustomerRow(BaseModel):
    public_id: str
    # What they bought of the `bought` product / category in the period (None without that filter;
    # first after the id, because in a buyers list it is the figure asked for).
    bought_spend: float | None = None
    bought_units: int | None = None
    bought_orders: int | None = None
    value_tier: str | None
    orders: int
    lifetime_value: float
    average_order_value: float | None
    days_since_last_order: int | None
    churn_probability: float | None
    risk_level: str | None
    lifecycle: str | None = None
    value_at_stake: float | None = None
    predicted_value_12m: float | None
    expected_purchases_90d: float | None
    archetype_id: str | None
    archetype_name: str | None


class CustomerTotals(BaseModel):
    customers: int
    lifetime_value: float
    customers_at_risk: int          # high or critical churn risk
    value_at_risk: float            # lifetime value of those at high or critical risk
    predicted_value_12m: float
    expected_12m_loss: float = Field(description=(
        "Expected revenue lost over the next 12 months: the sum over matching customers of churn "
        "probability x recent annual spend, where recent annual spend is lifetime revenue per year of "
        "tenure (tenure counted as at least one year), never less than one average order. Not "
        "probability x predicted 12-month value, which already discounts for churn."))
    average_churn_probability: float | None
    bought_spend: float | None = None
    bought_units: int | None = None


class AnalyzeCustomersResult(ToolResult):
    sort_by: str
    filters: dict[str, str | float]
    totals: CustomerTotals
    rows: list[CustomerRow]
    offset: int
    has_more: bool


def _filter_args(params: AnalyzeCustomersInput, run_id: int, axis, segment, archetype_id,
                 bought: Bought | None) -> dict[str, Any]:
    """The matching set's query arguments, shared by the page and the export so both select the same customers."""
    start, end = bought.period.bounds() if bought else (None, None)
    return {"run_id": run_id, "axis": axis, "segment": segment, "archetype_id": archetype_id,
            "value_tier": params.value_tier, "risk_levels": levels_from(params.risk_level),
            "min_value": params.min_value, "lifecycle": params.lifecycle, "sort_by": params.sort_by,
            "product_ids": list(bought.item.product_ids) if bought else None, "start": start, "end": end}


@dataclass(frozen=True)
class Bought:
    item: Item
    period: Period


def _bought(ctx: ToolContext, params: AnalyzeCustomersInput) -> Bought | None:
    """The product or category the list is about, and when; a period or sort without one is a mistake."""
    if params.bought is None:
        if params.sort_by == "bought" or params.period:
            raise ToolError("Say which product or category (bought=...) to rank or filter the buyers of.")
        return None
    item = resolve_item(ctx, params.bought)
    if params.period is None:
        return Bought(item, ALL_HISTORY)
    with read_cursor(ctx) as cur:
        cur.execute(query("metrics.latest_order"))
        latest = cur.fetchone()["latest_order_at"]
    return Bought(item, parse_period(params.period, latest) if latest else ALL_HISTORY)


def levels_from(level: str | None) -> list[str] | None:
    """A risk filter keeps the level named and those above it: 'high risk' includes critical."""
    return None if level is None else list(RISK_ORDER[RISK_ORDER.index(level):])


def _filters_text(filters: dict) -> str:
    return (" (" + ", ".join(f"{k} {v}" for k, v in filters.items()) + ")") if filters else ""


@tool("analyze_customers",
          "Lists of customers ranked by churn risk, lifetime value, predicted value, recency or order "
          "frequency, optionally filtered by segment, archetype, value tier, risk level or minimum value; "
          "always with totals for everyone matching (count, lifetime value, value at risk). 'About to churn' / "
          "'at risk' means lifecycle=at_risk ranked by value_at_stake (recently active but overdue: still "
          "reachable); customers already gone are lifecycle=lapsed (win-back). Use for 'who are my top "
          "customers', 'which VIPs are about to churn', 'customers who haven't ordered lately'.",
      title="Customers", exportable=True,
      menu=(MenuEntry("customers most at risk of churning", {"sort_by": "churn_risk"}),
            MenuEntry("top customers by lifetime value", {"sort_by": "value"})),
      warm=({"sort_by": "churn_risk"}, {"sort_by": "value"}))
def analyze_customers(ctx: ToolContext, params: AnalyzeCustomersInput) -> AnalyzeCustomersResult:
    run = require_current_run(ctx)
    axis, segment = segment_filter(ctx, params.segment, run.run_id)
    archetype_id = archetype_filter(ctx, params.archetype, run.run_id)
    bought = _bought(ctx, params)

    def compute() -> AnalyzeCustomersResult:
        with read_cursor(ctx) as cur:
            cur.execute(query("customers.page"), {
                **_filter_args(params, run.run_id, axis, segment, archetype_id, bought),
                "limit": params.limit, "offset": params.offset})
            row = cur.fetchone()
        t = row["totals"]
        totals = CustomerTotals(
            customers=t["customers"], lifetime_value=round(float(t["lifetime_value"]), 2),
            customers_at_risk=t["customers_at_risk"], value_at_risk=round(float(t["value_at_risk"]), 2),
            predicted_value_12m=round(float(t["predicted_value_12m"]), 2),
            expected_12m_loss=round(float(t["expected_12m_loss"]), 2),
            average_churn_probability=num(t["average_churn_probability"]),
            bought_spend=_money(t.get("bought_spend")), bought_units=t.get("bought_units"))
        rows = [CustomerRow(
            public_id=r["public_id"], value_tier=r["value_tier"], orders=r["orders"],
            lifetime_value=float(r["revenue"]), average_order_value=num(r["avg_order_value"]),
            days_since_last_order=r["recency_days"], churn_probability=r["churn_probability"],
            risk_level=r["risk_level"], lifecycle=r.get("lifecycle"), value_at_stake=_money(r.get("value_at_stake")),
            predicted_value_12m=num(r["predicted_clv_12m"]),
            expected_purchases_90d=r["expected_purchases_90d"], archetype_id=r["archetype_id"],
            archetype_name=r["archetype_name"], bought_spend=_money(r.get("bought_spend")),
            bought_units=r.get("bought_units"), bought_orders=r.get("bought_orders")) for r in row["rows"]]
        filters: dict[str, str | float] = {}
        if axis:
            filters["segment"] = f"{axis}:{segment}"
        if archetype_id:
            filters["archetype"] = archetype_id
        for name in ("value_tier", "min_value", "lifecycle"):
            if getattr(params, name) is not None:
                filters[name] = getattr(params, name)
        if params.risk_level is not None:
            filters["risk_level"] = f"{params.risk_level} or above" if params.risk_level != "critical" else "critical"
        if bought is not None:
            filters["bought"] = bought.item.described + ("" if bought.period.is_all else f", {bought.period.describe()}")
        lead = ""
        if bought is not None:
            lead = (f"{totals.customers:,} customers bought {bought.item.described}"
                    + ("" if bought.period.is_all else f" in {bought.period.describe().replace('_', ' ')}")
                    + f": {money(totals.bought_spend)} spent on it, {totals.bought_units or 0:,} units. ")
        others = {k: v for k, v in filters.items() if k != "bought"}
        summary = lead + ((f"Their{_filters_text(others)} lifetime value " if lead else
                           f"{totals.customers:,} customers{_filters_text(others)}, lifetime value ") +
                   f"{money(totals.lifetime_value)}; {totals.customers_at_risk:,} at high or critical churn risk "
                   f"holding {money(totals.value_at_risk)} lifetime value at risk; average churn probability "
                   f"{pct(totals.average_churn_probability)}. Showing {len(rows)} by {SORT_WORDS[params.sort_by]}"
                   + (f" from #{params.offset + 1}" if params.offset else "") + ".")
        if params.sort_by in ("churn_risk", "value_at_stake", "predicted_value") or params.lifecycle \
                or params.risk_level:
            thin = thin_data_note(ctx, run)
            summary += f" {thin}" if thin else ""
        since = _add_orders_since_the_run(ctx, run, rows)
        summary += f" {since}" if since else ""
        return AnalyzeCustomersResult(
            tool="analyze_customers", summary=summary, sort_by=params.sort_by, filters=filters, totals=totals,
            rows=rows, offset=params.offset, has_more=params.offset + len(rows) < totals.customers)

    # What customers bought changes with every import, not only with a run: the key says how current.
    key = params.model_dump_json() + (f"|{bought.item.product_ids}|{bought.period.bounds()}" if bought else "")
    return cached(ctx, "analyze_customers", run.run_id, key, compute, AnalyzeCustomersResult)


def _add_orders_since_the_run(ctx: ToolContext, run: RunInfo, rows: list[CustomerRow]) -> str | None:
    """Rows are the run's figures; a listed customer who ordered since (a Shopify sync or webhook, an
    import) gets those orders added to their orders, value and recency, as their card does, and the
    answer says so: their scores and stage change with the next run. None when nobody did."""
    if not rows:
        return None
    with read_cursor(ctx) as cur:
        cur.execute(query("customers.orders_since_run"),
                    {"public_ids": [row.public_id for row in rows], "as_of": run.as_of})
        since = {r["public_id"]: r for r in cur.fetchall()}
    moved = [row for row in rows if row.public_id in since]
    for row in moved:
        new = since[row.public_id]
        row.orders += new["orders_since_run"]
        row.lifetime_value = round(row.lifetime_value + float(new["revenue_since_run"]), 2)
        row.average_order_value = round(row.lifetime_value / row.orders, 2) if row.orders else None
        if new["last_order_since_run"] is not None:
            row.days_since_last_order = (new["store_latest_order_at"] - new["last_order_since_run"]).days
    if not moved:
        return None
    shown = ", ".join(row.public_id for row in moved[:5]) + (" …" if len(moved) > 5 else "")
    return (f"{len(moved)} of them ordered since the run of {run.as_of:%Y-%m-%d} ({shown}): their orders, value "
            "and days since last order include those orders; churn risk and stage are re-scored at the next run.")


# A CSV for a Slack thread, not a data dump: beyond this many rows the store owner's own
# `python app.py export profiles` is the tool.
EXPORT_MAX_ROWS = 50_000


@dataclass(frozen=True)
class CustomerExport:
    """Every customer matching an analyze_customers call, in its order, with the table's columns."""

    columns: list[str]
    rows: list[tuple]
    matching: int
    note: str | None        # set when the file holds fewer customers than match


def export_rows(ctx: ToolContext, params: AnalyzeCustomersInput, *, max_rows: int = EXPORT_MAX_ROWS) -> CustomerExport:
    """All customers matching `params` (its limit and offset ignored), at most `max_rows`, computed in
    one set-based query. Pseudonymous ids only: the file goes to Slack."""
    run = require_current_run(ctx)
    axis, segment = segment_filter(ctx, params.segment, run.run_id)
    archetype_id = archetype_filter(ctx, params.archetype, run.run_id)
    columns = list(CustomerRow.model_fields)
    with read_cursor(ctx) as cur:
        cur.execute(query("customers.export"), {
            **_filter_args(params, run.run_id, axis, segment, archetype_id, _bought(ctx, params)),
            "max_rows": max_rows})
        fetched = cur.fetchall()
    rows = [tuple(r[c] for c in columns) for r in fetched]
    matching = fetched[0]["matching"] if fetched else 0
    note = None
    if matching > len(rows):
        note = (f"The file holds the first {len(rows):,} of {matching:,} matching customers by "
                f"{params.sort_by.replace('_', ' ')} (exports stop at {max_rows:,}).")
    return CustomerExport(columns=columns, rows=rows, matching=matching, note=note)
