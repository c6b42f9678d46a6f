"""The `analyze_products` tool: revenue, orders, buyers and repeat purchase by category or product,
what sells together with a product or category, optionally for one segment / archetype and period.

Revenue is net: returns and cancellations are subtracted in the period they were booked; orders,
customers and repeat purchase count sales only. No customer appears in the result, only counts.

The queries read rollups of the order lines (migration 008), never the lines themselves. Stored
answers, exact because each is the answer of the query it replaces (distinct buyers and repeat buyers
do not add up across periods or customers, so nothing is summed that does not add up): for everyone
over all history and over the standard periods (STORED_PERIODS: last_quarter, this_year, …); for one
segment / archetype of the current run over all history and the standard periods up to a quarter
(product_segment_facts; a customer is in one segment per axis, so its buyers add up); what sells with
each category over all history (product_pair_facts). Other questions fold rollup rows: a period its
rows per (order, product) or (order, category), pairs the anchor's own orders (index-only).
This module only reads: analytics.product_rollup writes all of it where the data changes (after an
import, after a discovery run). Orders imported since the last fold are not in the answer, and a note
says how current it is.
"""
from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.core import PERIOD_HELP, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, require_current_run
from analytics.items import known_categories, resolve_item
from analytics.periods import Period, parse_period
from analytics.privacy import min_group_size
from analytics.product_rollup import derived_current, rollup_stale, scope_period_bounds, segment_facts_ready
from analytics.resolve import resolve_archetype, resolve_segment
from analytics.tools.registry import MenuEntry, tool
from sql import query

class AnalyzeProductsInput(ToolInput):
    """Product and category performance, repeat purchase, and what sells together."""

    group_by: Literal["category", "product"] = Field("category", description="Aggregate by category or product.")
    sort_by: Literal["revenue", "orders", "customers", "repeat_rate"] = Field(
        "revenue", description="Ranking metric; repeat_rate is the share of buyers who bought it again."
    )
    category: str | None = Field(None, max_length=80, description="Only this product category.")
    bought_with: str | None = Field(
        None, max_length=120, description="A product (SKU or title words) or category: list what is bought together with it."
    )
    segment: str | None = Field(None, max_length=80, description="Only purchases by this segment. " + SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description="Only purchases by this archetype.")
    period: str | None = Field(None, max_length=40, description=PERIOD_HELP)
    pairs: bool = Field(False, description="The store's pairs of categories bought together more often than "
                        "chance (no bought_with needed): 'which products are bought together?'.")
    limit: int = Field(10, ge=1, le=100)


LIFT_NOTE = ("Lift: how many times more often two things are bought in the same order than they would be "
             "by chance (2.0 = twice as often; 1.0 = no connection; below 1 = less often than chance).")
# A pair must be seen in at least this many orders and this share of all orders to be listed: a pair
# seen a handful of times can have any lift.
PAIR_MIN_ORDERS = 20
PAIR_MIN_SUPPORT = 0.002
RETURNS_NOTE = ("Revenue is net of returns: returned items are subtracted in the period the return was "
                "booked; orders, customers and repeat rate count sales only.")
REPEAT_NOTE = "Repeat rate: the share of buyers who bought it again in a later order."

DESCRIPTION = (
    "Product and category performance from the order history: net revenue (after returns), orders, "
    "buyers, units and repeat-purchase rate by category or product; or, with bought_with, what is bought "
    "together with a product or category (support, confidence, lift). Can be limited to one behavioural "
    "segment or archetype and to a period. Totals cover the whole matching set."
)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CategoryRow(_Row):
    category: str
    revenue: float
    gross_sales: float
    returns: float
    units: int
    orders: int
    customers: int
    repeat_rate: float | None
    share_of_revenue: float | None


class ProductRow(_Row):
    sku: str | None
    product: str | None
    category: str | None
    revenue: float
    gross_sales: float
    returns: float
    units: int
    orders: int
    customers: int
    repeat_rate: float | None
    share_of_revenue: float | None


class TogetherRow(_Row):
    sku: str | None = None
    item: str
    category: str | None = None
    orders_together: int
    share_of_anchor_orders: float   # confidence
    share_of_all_orders: float      # support
    lift: float


class PairRow(_Row):
    first: str
    second: str
    orders_together: int
    share_of_all_orders: float          # support
    share_of_first_orders: float        # confidence, first → second
    share_of_second_orders: float       # confidence, second → first
    lift: float


class ProductTotals(_Row):
    revenue: float
    gross_sales: float
    returns: float
    units: int
    orders: int
    customers: int
    repeat_rate: float | None
    groups: int


class AnalyzeProductsResult(ToolResult):
    group_by: str
    sort_by: str
    period: str
    scope: str
    totals: ProductTotals
    rows: list[CategoryRow | ProductRow]
    bought_with: str | None = None
    anchor_orders: int | None = None
    bought_together: list[TogetherRow] = []
    left_out_below_chance: int | None = None   # items bought with the anchor less often than chance
    top_pairs: list[PairRow] = []
    notes: list[str]


def _money(value: Any) -> float:
    return round(float(value or 0), 2)


def _fetch(ctx: ToolContext, name: str, params: dict) -> list[dict]:
    with ctx.db.cursor() as cur:
        cur.execute(query("products.tuning"))  # transaction-local: no JIT, room for hash aggregates
        cur.execute(query(name), params)
        return [dict(row) for row in cur.fetchall()]


def _scope_key(scope: dict) -> str | None:
    """product_segment_facts' key for a filter by one segment or one archetype (None: both, or neither)."""
    if scope["segment"] and not scope["archetype_id"]:
        (axis, name), = json.loads(scope["segment"]).items()
        return f"segment:{axis}:{name}"
    if scope["archetype_id"] and not scope["segment"]:
        return f"archetype:{scope['archetype_id']}"
    return None


def _check_category(ctx: ToolContext, text: str) -> str:
    known = known_categories(ctx)
    for name in known:
        if name.lower() == text.lower():
            return name
    shown = ", ".join(f"'{name}'" for name in known[:12]) or "none (no products imported yet)"
    raise ToolError(f"Unknown product category {text!r}. The categories are: {shown}.")


def _anchor(ctx: ToolContext, text: str) -> tuple[dict, str]:
    """(query parameters for the anchor, how to describe it) for a category, SKU or title words."""
    item = resolve_item(ctx, text)
    if item.kind == "category":
        return {"anchor_ids": [], "anchor_category": item.name}, item.described
    return {"anchor_ids": list(item.product_ids), "anchor_category": None}, item.described


def _scope(ctx: ToolContext, params: AnalyzeProductsInput) -> tuple[dict, str, int | None]:
    """Query parameters for the segment / archetype filter, its description and its size."""
    if not params.segment and not params.archetype:
        return {"run_id": None, "segment": None, "archetype_id": None, "scope_facts": None}, "all customers", None
    run = require_current_run(ctx)
    segment_filter, described = None, []
    if params.segment:
        axis, name = resolve_segment(ctx, params.segment, run.run_id)
        segment_filter = json.dumps({axis: name})
        described.append(f"segment {axis}:{name}")
    archetype_id = resolve_archetype(ctx, params.archetype, run.run_id) if params.archetype else None
    if archetype_id:
        described.append(f"archetype {archetype_id}")
    scope = {"run_id": run.run_id, "segment": segment_filter, "archetype_id": archetype_id}
    # One segment or one archetype: its members' sums are stored (product_segment_facts) once built
    # for this run and this rollup; the queries read them when scope_facts names it.
    key = _scope_key(scope)
    ready = key is not None and segment_facts_ready(_fetch(ctx, "products.segment_state", {})[0], run.run_id)
    scope["scope_facts"] = key if ready else None
    size = _fetch(ctx, "products.scope_customers", scope)[0]["customers"]
    return scope, " and ".join(described) + f" ({size:,} customers)", size


def _period(ctx: ToolContext, text: str | None, latest) -> Period:
    if latest is None:
        raise ToolError("There are no orders yet: import some with `python app.py ingest FILE`.")
    return parse_period(text, latest)


@tool("analyze_products", DESCRIPTION,
      title="Products", exportable=True,
      menu=(MenuEntry("best-selling categories", {"group_by": "category"}),),
      # The common period questions (their all-customer answers are stored by the refresh; cached here).
      warm=({}, {"group_by": "product"}, *({"period": p} for p in ("last_quarter", "last_90_days", "this_year"))))
def analyze_products(ctx: ToolContext, params: AnalyzeProductsInput) -> AnalyzeProductsResult:
    version = _fetch(ctx, "products.data_version", {})[0]
    if version["rollup_order_id"] is None and version["last_order_id"]:
        raise ToolError("Product statistics are not built yet for the orders in the database: they are built "
                        "after each import (`python app.py ingest FILE`) and after the server's discovery runs.")
    if ctx.cache is None:
        return _compute(ctx, params, version)
    run = None
    if params.segment or params.archetype:
        run = require_current_run(ctx).run_id
    # Recategorised products change the answers too, without a new order.
    key = (f"analyze_products:{version['last_order_id']}:{version['latest_order_at']}:"
           f"{version['products_version'][:12]}:{version['rollup_order_id']}:"
           f"{(version['rollup_products_version'] or '')[:12]}:{run}:{params.model_dump_json()}")
    return ctx.cache.get_or_compute(key, None, lambda: _compute(ctx, params, version), model=AnalyzeProductsResult)


def _compute(ctx: ToolContext, params: AnalyzeProductsInput, version: dict) -> AnalyzeProductsResult:
    period = _period(ctx, params.period, version["latest_order_at"])
    start, end = period.bounds()
    category = _check_category(ctx, params.category) if params.category else None
    scope, scope_text, scope_size = _scope(ctx, params)
    base = {**scope, "everyone": False, "start": start, "end": end, "category": category,
            "group_by": params.group_by, "sort_by": params.sort_by, "limit": params.limit}
    notes = [RETURNS_NOTE, REPEAT_NOTE]
    if rollup_stale(version):
        notes.append(_behind_note(ctx, version))

    small = scope_size is not None and scope_size < min_group_size(ctx)
    if small:
        notes.append(f"Not broken down by {params.group_by}: {scope_text} is under the minimum group size "
                     f"of {min_group_size(ctx)} customers.")
    # A page of 0 still returns the 'total' row: a small group gets its totals and nothing finer, and a
    # bought-with question gets the co-occurrence list as its page instead of the ranking.
    page_size = 0 if small or params.bought_with or params.pairs else params.limit
    # All history for all customers is the most asked question: its answer per group is stored; all
    # history for a segment / archetype sums its members' per-customer rows; a period reads its orders,
    # and so does all history while the derived tables are being built (the demo's first minute).
    derived = derived_current(version)
    if scope["scope_facts"] and (period.is_all or (start, end) in scope_period_bounds(version["latest_order_at"])):
        source = "products.summary_scope_facts"  # one segment / archetype: its members' sums are stored
    elif period.is_all and derived:
        source = "products.summary_facts" if scope["run_id"] is None else "products.summary_members"
    elif not period.is_all and scope["run_id"] is None and _fetch(ctx, "products.facts_has_period", base)[0]["stored"]:
        source = "products.summary_facts"  # a standard period (STORED_PERIODS) for everyone
    else:
        source = "products.summary"
    found = _fetch(ctx, source, {**base, "limit": page_size})
    totals_row, page = found[0], found[1:]
    total_revenue = float(totals_row["revenue"] or 0)
    rows: list[CategoryRow | ProductRow] = []
    for row in page:
        figures = dict(
            revenue=_money(row["revenue"]), gross_sales=_money(row["gross_sales"]),
            returns=_money(row["returns"]), units=int(row["units"] or 0), orders=int(row["orders"]),
            customers=int(row["customers"]),
            repeat_rate=None if row["repeat_rate"] is None else round(float(row["repeat_rate"]), 4),
            share_of_revenue=round(float(row["revenue"]) / total_revenue, 4) if total_revenue else None,
        )
        if params.group_by == "category":
            rows.append(CategoryRow(category=row["group_key"], **figures))
        else:
            rows.append(ProductRow(sku=row["sku"], product=row["title"] or "(unknown product)",
                                   category=row["product_category"], **figures))

    buyers = int(totals_row["customers"] or 0)
    totals = ProductTotals(
        revenue=_money(totals_row["revenue"]), gross_sales=_money(totals_row["gross_sales"]),
        returns=_money(totals_row["returns"]), units=int(totals_row["units"] or 0),
        orders=int(totals_row["orders"] or 0), customers=buyers,
        repeat_rate=round(int(totals_row["repeat_customers"]) / buyers, 4) if buyers else None,
        groups=0 if small else int(totals_row["groups"]),
    )

    anchor_text, anchor_orders, together, left_out = None, None, [], None
    if params.bought_with:
        anchor, anchor_text = _anchor(ctx, params.bought_with)
        # Without the derived tables, each item's orders are counted from the order grains' rows.
        anchor_params = {**base, **anchor, "count_rows": not derived}
        # A category's pairs over all history for everyone are stored (product_pair_facts).
        stored_pairs = (derived and period.is_all and scope["run_id"] is None and anchor["anchor_category"] is not None
                        and anchor["anchor_category"].lower() != "uncategorized")
        source = "products.bought_together_category_facts" if stored_pairs else "products.bought_together_from_anchor"
        found = [] if small else _fetch(ctx, source, anchor_params)
        # The co-occurrence rows carry the anchor's order count; only without them is it asked for alone.
        anchor_orders = int(found[0]["anchor_orders"] if found else
                            _fetch(ctx, "products.anchor_orders", anchor_params)[0]["anchor_orders"])
        below = [row for row in found if float(row["lift"]) <= 1.0]
        found = [row for row in found if float(row["lift"]) > 1.0]
        left_out = len(below)
        if found:
            for row in found:
                together.append(TogetherRow(
                    sku=row["sku"], category=row["product_category"] if params.group_by == "product" else None,
                    item=(row["title"] or row["sku"] or "(unknown product)") if params.group_by == "product"
                    else row["group_key"],
                    orders_together=int(row["orders_together"]),
                    share_of_anchor_orders=round(float(row["confidence"]), 4),
                    share_of_all_orders=round(float(row["support"]), 4), lift=round(float(row["lift"]), 3)))
        notes.append(LIFT_NOTE + " Only items with lift above 1 are listed"
                     + (f" ({left_out} bought with it less often than chance are left out)" if left_out else "")
                     + ". Ranked by lift among items in at least 1 % of the anchor's orders (and 3 orders), the "
                     "rest by orders together.")

    top_pairs: list[PairRow] = []
    if params.pairs and not params.bought_with:
        if scope["run_id"] is not None:
            notes.append("Pairs are counted over every customer's orders (not one segment or archetype).")
        top_pairs = [PairRow(
            first=r["first"], second=r["second"], orders_together=int(r["together"]),
            share_of_all_orders=round(float(r["support"]), 4),
            share_of_first_orders=round(float(r["confidence_first"]), 4),
            share_of_second_orders=round(float(r["confidence_second"]), 4), lift=round(float(r["lift"]), 3))
            for r in _fetch(ctx, "products.top_pairs", {"start": start, "end": end, "limit": params.limit,
                                                        "min_orders": PAIR_MIN_ORDERS, "min_support": PAIR_MIN_SUPPORT})]
        notes.append(LIFT_NOTE + f" Pairs seen together in at least {PAIR_MIN_ORDERS} orders and "
                     f"{PAIR_MIN_SUPPORT:.1%} of all orders, with lift above 1, strongest first.")
        rows = []

    return AnalyzeProductsResult(
        tool="analyze_products", summary=_summary(params, period, scope_text, totals, rows, anchor_text,
                                                  anchor_orders, together, small, top_pairs),
        group_by=params.group_by, sort_by=params.sort_by, period=period.describe(), scope=scope_text,
        totals=totals, rows=rows, bought_with=anchor_text, anchor_orders=anchor_orders,
        bought_together=together, left_out_below_chance=left_out, top_pairs=top_pairs, notes=notes,
    )


def _behind_note(ctx: ToolContext, version: dict) -> str:
    """How current the rollup is, for an answer read from it while orders or categories changed since
    (between an import and its fold, or when a fold failed): the answer is never folded from here."""
    coverage = _fetch(ctx, "products.rollup_coverage", {"after": version["rollup_order_id"]})[0]
    parts = [f"Product figures were last updated {coverage['refreshed_at']:%Y-%m-%d %H:%M} UTC"]
    if coverage["folded_until"] is not None:
        parts[0] += f" and include orders up to {coverage['folded_until']:%Y-%m-%d}"
    if coverage["orders_since"]:
        count = coverage["orders_since"]
        parts.append(f"{count:,} order{'s' if count != 1 else ''} imported since {'are' if count != 1 else 'is'} "
                     "not in them yet")
    elif version["rollup_order_id"] != version["last_order_id"]:
        parts.append("orders were removed since")
    if version["rollup_products_version"] != version["products_version"]:
        parts.append("product categories changed since (grouped as they were)")
    return "; ".join(parts) + ". They are brought up to date after each import and discovery run."


def _summary(params, period: Period, scope_text: str, totals: ProductTotals, rows, anchor_text,
             anchor_orders, together, small: bool, top_pairs: list[PairRow] | None = None) -> str:
    where = f"{period.describe()}, {scope_text}"
    if params.pairs and not params.bought_with:
        if not top_pairs:
            return (f"{where[0].upper() + where[1:]}: no two categories are bought together more often than chance "
                    f"(in at least {PAIR_MIN_ORDERS} orders).")
        best = top_pairs[0]
        return (f"{where[0].upper() + where[1:]}: {len(top_pairs)} category pair(s) bought together more often than "
                f"chance; the strongest, {best.first} with {best.second}, {best.lift:.1f}× as often as chance "
                f"({best.orders_together:,} orders).")
    if params.category:
        where += f", category '{params.category}'"
    text = ""
    if anchor_text:
        if together:
            best = together[0]
            text += (f"Bought with {anchor_text} ({anchor_orders:,} orders): first {best.item} "
                     f"({best.orders_together:,} orders together, lift {best.lift:.1f}). ")
        elif not small:
            text += (f"Nothing is bought with {anchor_text} more often than chance ({anchor_orders:,} orders hold "
                     "it). ")
    text += (f"{where}: net revenue {totals.revenue:,.2f} (returns {totals.returns:,.2f}) from "
            f"{totals.orders:,} orders by {totals.customers:,} customers")
    if totals.repeat_rate is not None:
        text += f"; {totals.repeat_rate:.0%} of buyers bought again"
    text += "."
    if rows:
        top = rows[0]
        name = top.category if isinstance(top, CategoryRow) else (top.product or top.sku)
        text += (f" Top {params.group_by} by {params.sort_by.replace('_', ' ')}: {name} "
                 f"({top.revenue:,.2f}, {top.orders:,} orders) of {totals.groups:,}.")
    elif not small and not anchor_text and totals.orders == 0:
        text += " Nothing was sold in this scope."
    return text
