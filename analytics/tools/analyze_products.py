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
`refresh_product_rollup` keeps them current with the orders: after `ingest`, in the warm hooks after a
discovery run (which also call `refresh_segment_facts`), and here when a question finds it stale.
"""
from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from analytics.core import PERIOD_HELP, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, require_current_run
from analytics.periods import Period, parse_period
from analytics.privacy import min_group_size
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
    limit: int = Field(10, ge=1, le=100)


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
    notes: list[str]


def _money(value: Any) -> float:
    return round(float(value or 0), 2)


def _fetch(ctx: ToolContext, name: str, params: dict) -> list[dict]:
    with ctx.db.cursor() as cur:
        cur.execute(query("products.tuning"))  # transaction-local: no JIT, room for hash aggregates
        cur.execute(query(name), params)
        return [dict(row) for row in cur.fetchall()]


def refresh_product_rollup(db, with_segments: bool = True) -> bool:
    """Fold the orders imported since the last refresh into the rollup and store the all-history
    answers again; True when anything changed. One refresher at a time; readers keep seeing the
    previous rollup until this commits. with_segments: also rebuild the sums per segment / archetype
    (refresh_segment_facts, the slowest part: ~20 s on a 27k-customer store); until they are,
    segment questions scan the rollup."""
    changed = _refresh_rollup(db)
    # Also when the rollup was current: a question may have refreshed it without the sums per segment.
    rebuilt = with_segments and refresh_segment_facts(db)
    if with_segments and (changed or rebuilt):  # not on a question's behalf: it would wait for it
        _vacuum_rollup(db)
    return changed


def _vacuum_rollup(db) -> None:
    with db.connection() as conn:
        conn.autocommit = True   # a pooled connection is idle here; it goes back to the pool as it came
        try:
            conn.execute(query("products.rollup_vacuum"))
        finally:
            conn.autocommit = False


def _refresh_rollup(db) -> bool:
    with db.cursor() as cur:
        cur.execute(query("products.tuning"))
        cur.execute(query("products.rollup_lock"))
        cur.execute(query("products.data_version"))
        version = cur.fetchone()
        if not _rollup_stale(version):  # another process refreshed it while this one waited
            return False
        after = version["rollup_order_id"]
        folded_from = after or 0
        if after is None or after > version["last_order_id"]:  # never built, or orders were deleted
            cur.execute(query("products.rollup_clear"))
            after = 0
        if after < version["last_order_id"]:
            cur.execute(query("products.rollup_extend"), {"after": after, "upto": version["last_order_id"]})
        if after == 0 or version["rollup_products_version"] != version["products_version"]:
            # Their rows name categories: start them again from the order rollup.
            cur.execute(query("products.categories_clear"))
            cur.execute(query("products.customers_clear"))
            after = 0
        cur.execute(query("products.categories_extend"), {"after": after})
        if after == 0:
            cur.execute(query("products.pairs_clear"))
        cur.execute(query("products.pairs_extend"), {"after": after})
        for grain in ("customers_extend", "customers_extend_categories", "customers_extend_totals"):
            cur.execute(query(f"products.{grain}"), {"after": after})
        cur.execute(query("products.rollup_analyze"))  # fresh statistics, or the planner guesses at their sizes
        cur.execute(query("products.changed_from"), {"after": folded_from})
        changed_from = cur.fetchone()["changed_from"]
        periods = stored_period_bounds(version["latest_order_at"])
        cur.execute(query("products.facts_clear"), {
            "everything": after == 0, "changed_from": changed_from,
            "starts": [start for start, _ in periods], "ends": [end for _, end in periods]})
        cur.execute(query("products.facts_periods"))
        kept = {(row["group_by"], row["period_start"], row["period_end"]) for row in cur.fetchall()}
        everyone = {"everyone": True, "run_id": None, "segment": None, "archetype_id": None,
                    "category": None, "sort_by": "revenue", "limit": 2**62}
        facts = []
        for group_by in ("category", "product"):
            # Summed from the per-customer rows (guests included): a fraction of the orders' rows.
            cur.execute(query("products.summary_members"), {**everyone, "group_by": group_by})
            facts += _fact_rows(group_by, ("-infinity", "infinity"), cur.fetchall())
            # The standard periods by the same query a question would run on them: the stored answer is
            # that answer, whatever the period's distinct buyers and repeat buyers are.
            for start, end in periods:
                if (group_by, start, end) in kept:  # no new order in it: its stored answer holds
                    continue
                cur.execute(query("products.summary"), {**everyone, "everyone": False, "group_by": group_by,
                                                        "start": start, "end": end})
                facts += _fact_rows(group_by, (start, end), cur.fetchall())
        with cur.copy(query("products.facts_copy")) as copy:
            for row in facts:
                copy.write_row(row)
        cur.execute(query("products.facts_sold"))
        cur.execute(query("products.state_save"), {"last_order_id": version["last_order_id"],
                                                   "products_version": version["products_version"]})
    return True


def refresh_segment_facts(db) -> bool:
    """Sum the per-customer rollup per segment and archetype of the current discovery run
    (product_segment_facts) unless they were built from this run and this rollup already; True when
    rebuilt. Called after each rollup refresh and by the warm hooks after a discovery run."""
    with db.cursor() as cur:
        cur.execute(query("runs.current"))
        run = cur.fetchone()
        if run is None:
            return False
        cur.execute(query("products.tuning"))
        cur.execute(query("products.rollup_lock"))
        cur.execute(query("products.segment_state"))
        state = cur.fetchone()
        if state["rollup_order_id"] is None or _segment_facts_ready(state, run["run_id"]):
            return False
        cur.execute(query("products.segment_facts_clear"))
        cur.execute(query("products.segment_facts_build"), {"run_id": run["run_id"]})
        cur.execute(query("products.data_version"))
        for start, end in scope_period_bounds(cur.fetchone()["latest_order_at"]):
            cur.execute(query("products.segment_period_facts_build"),
                        {"run_id": run["run_id"], "start": start, "end": end})
        cur.execute(query("products.segment_state_save"), {"run_id": run["run_id"]})
    return True


def _segment_facts_ready(state: dict, run_id: int) -> bool:
    return (state["run_id"] == run_id and state["last_order_id"] == state["rollup_order_id"]
            and state["products_version"] == state["rollup_products_version"])


def _scope_key(scope: dict) -> str | None:
    """product_segment_facts' key for a filter by one segment or one archetype (None: both, or neither)."""
    if scope["segment"] and not scope["archetype_id"]:
        (axis, name), = json.loads(scope["segment"]).items()
        return f"segment:{axis}:{name}"
    if scope["archetype_id"] and not scope["segment"]:
        return f"archetype:{scope['archetype_id']}"
    return None


# Periods whose all-customer answers refresh_product_rollup stores (by their bounds from the latest
# order, so any spelling of the same range finds them): the ones people ask about most, and the
# longest to scan. Others, and any period with a segment / archetype, are read from the order rollups.
STORED_PERIODS = ("last_30_days", "last_90_days", "last_12_months", "this_month", "last_month", "this_quarter",
                  "last_quarter", "this_year", "last_year", "q1", "q2", "q3", "q4")

_FACT_COLUMNS = ("row_type", "group_no", "group_key", "product_category", "revenue", "gross_sales", "returns",
                 "units", "orders", "customers", "repeat_customers", "groups")


def stored_period_bounds(latest) -> list[tuple]:
    """The distinct [start, end) timestamps of STORED_PERIODS measured from the latest order's time."""
    if latest is None:
        return []
    return list(dict.fromkeys(parse_period(phrase, latest).bounds() for phrase in STORED_PERIODS))


def scope_period_bounds(latest) -> list[tuple]:
    """The standard periods up to a quarter long, whose answers are also stored per segment / archetype
    (longer ones cost more to store for every scope than to scan for the one asked about)."""
    return [(start, end) for start, end in stored_period_bounds(latest) if end - start <= timedelta(days=92)]


def _fact_rows(group_by: str, bounds: tuple, rows: list[dict]) -> list[tuple]:
    """summary / summary_members rows as product_group_facts rows (facts_copy's column order)."""
    return [(group_by, *bounds, *(row[column] for column in _FACT_COLUMNS)) for row in rows]


def _rollup_stale(version: dict) -> bool:
    return (version["rollup_order_id"] != version["last_order_id"]
            or version["rollup_products_version"] != version["products_version"])


def _check_category(ctx: ToolContext, text: str) -> str:
    known = [row["category"] for row in _fetch(ctx, "products.categories", {})]
    for name in known:
        if name.lower() == text.lower():
            return name
    shown = ", ".join(f"'{name}'" for name in known[:12]) or "none (no products imported yet)"
    raise ToolError(f"Unknown product category {text!r}. The categories are: {shown}.")


def _anchor(ctx: ToolContext, text: str) -> tuple[dict, str]:
    """(query parameters for the anchor, how to describe it) for a category, SKU or title words."""
    for row in _fetch(ctx, "products.categories", {}):
        if row["category"].lower() == text.lower():
            return {"anchor_ids": [], "anchor_category": row["category"]}, f"category '{row['category']}'"
    words = [w for w in re.split(r"\s+", text.strip()) if w]
    found = _fetch(ctx, "products.find_product", {"text": text.strip(), "words": words})
    if not found:
        raise ToolError(f"No product or category matches {text!r}: give a SKU, words from the product "
                        "title, or a category name.")
    product = found[0]
    described = f"{product['title'] or product['sku']} (SKU {product['sku']})"
    if product["matches"] > 1:
        described += f"; the best seller of {product['matches']} products matching '{text}'"
    return {"anchor_ids": [product["product_id"]], "anchor_category": None}, described


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
    ready = key is not None and _segment_facts_ready(_fetch(ctx, "products.segment_state", {})[0], run.run_id)
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
    if _rollup_stale(version):
        # Normally done already by the import / discovery warm hook. The sums per segment are left to
        # those (a question would wait for them); segment questions scan the rollup meanwhile.
        refresh_product_rollup(ctx.db, with_segments=False)
    if ctx.cache is None:
        return _compute(ctx, params, version)
    run = None
    if params.segment or params.archetype:
        run = require_current_run(ctx).run_id
    # Recategorised products change the answers too, without a new order.
    key = (f"analyze_products:{version['last_order_id']}:{version['latest_order_at']}:"
           f"{version['products_version'][:12]}:{run}:{params.model_dump_json()}")
    return ctx.cache.get_or_compute(key, None, lambda: _compute(ctx, params, version), model=AnalyzeProductsResult)


def _compute(ctx: ToolContext, params: AnalyzeProductsInput, version: dict) -> AnalyzeProductsResult:
    period = _period(ctx, params.period, version["latest_order_at"])
    start, end = period.bounds()
    category = _check_category(ctx, params.category) if params.category else None
    scope, scope_text, scope_size = _scope(ctx, params)
    base = {**scope, "everyone": False, "start": start, "end": end, "category": category,
            "group_by": params.group_by, "sort_by": params.sort_by, "limit": params.limit}
    notes = [RETURNS_NOTE, REPEAT_NOTE]

    small = scope_size is not None and scope_size < min_group_size(ctx)
    if small:
        notes.append(f"Not broken down by {params.group_by}: {scope_text} is under the minimum group size "
                     f"of {min_group_size(ctx)} customers.")
    # A page of 0 still returns the 'total' row: a small group gets its totals and nothing finer, and a
    # bought-with question gets the co-occurrence list as its page instead of the ranking.
    page_size = 0 if small or params.bought_with else params.limit
    # All history for all customers is the most asked question: its answer per group is stored; all
    # history for a segment / archetype sums its members' per-customer rows; a period reads its orders.
    if period.is_all and scope["run_id"] is None:
        source = "products.summary_facts"
    elif scope["scope_facts"] and (period.is_all or (start, end) in scope_period_bounds(version["latest_order_at"])):
        source = "products.summary_scope_facts"  # one segment / archetype: its members' sums are stored
    elif period.is_all:
        source = "products.summary_members"
    elif scope["run_id"] is None and _fetch(ctx, "products.facts_has_period", base)[0]["stored"]:
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

    anchor_text, anchor_orders, together = None, None, []
    if params.bought_with:
        anchor, anchor_text = _anchor(ctx, params.bought_with)
        anchor_params = {**base, **anchor}
        # A category's pairs over all history for everyone are stored (product_pair_facts).
        stored_pairs = (period.is_all and scope["run_id"] is None and anchor["anchor_category"] is not None
                        and anchor["anchor_category"].lower() != "uncategorized")
        source = "products.bought_together_category_facts" if stored_pairs else "products.bought_together_from_anchor"
        found = [] if small else _fetch(ctx, source, anchor_params)
        # The co-occurrence rows carry the anchor's order count; only without them is it asked for alone.
        anchor_orders = int(found[0]["anchor_orders"] if found else
                            _fetch(ctx, "products.anchor_orders", anchor_params)[0]["anchor_orders"])
        if found:
            for row in found:
                together.append(TogetherRow(
                    sku=row["sku"], category=row["product_category"] if params.group_by == "product" else None,
                    item=(row["title"] or row["sku"] or "(unknown product)") if params.group_by == "product"
                    else row["group_key"],
                    orders_together=int(row["orders_together"]),
                    share_of_anchor_orders=round(float(row["confidence"]), 4),
                    share_of_all_orders=round(float(row["support"]), 4), lift=round(float(row["lift"]), 3)))
        notes.append("Bought together: items in the same order as the anchor; share of anchor orders is the "
                     "confidence, share of all orders the support, lift > 1 means more often than by chance. "
                     "Ranked by lift among items in at least 1 % of the anchor's orders (and 3 orders), the "
                     "rest by orders together.")

    return AnalyzeProductsResult(
        tool="analyze_products", summary=_summary(params, period, scope_text, totals, rows, anchor_text,
                                                  anchor_orders, together, small),
        group_by=params.group_by, sort_by=params.sort_by, period=period.describe(), scope=scope_text,
        totals=totals, rows=rows, bought_with=anchor_text, anchor_orders=anchor_orders,
        bought_together=together, notes=notes,
    )


def _summary(params, period: Period, scope_text: str, totals: ProductTotals, rows, anchor_text,
             anchor_orders, together, small: bool) -> str:
    where = f"{period.describe()}, {scope_text}"
    if params.category:
        where += f", category '{params.category}'"
    text = ""
    if anchor_text:
        if together:
            best = together[0]
            text += (f"Bought with {anchor_text} ({anchor_orders:,} orders): first {best.item} "
                     f"({best.orders_together:,} orders together, lift {best.lift:.1f}). ")
        elif not small:
            text += f"Nothing else was bought in the same order as {anchor_text} ({anchor_orders:,} orders). "
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
