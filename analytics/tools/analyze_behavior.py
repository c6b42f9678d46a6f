"""analyze_behavior: how customers' behaviour changed — within their own history over the last 2, 4
or 8 weeks (answers from a single discovery run), and since the run 7/14/28 days ago (segment moves,
declining engagement) — plus one-time buyers and discount dependency."""
from __future__ import annotations

from typing import Literal
from datetime import datetime

from pydantic import BaseModel, Field

from analytics.core import RunInfo, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, previous_run, require_current_run, run_days_ago
from analytics.enrichment import DISCOUNT_DEPENDENT_SHARE
from analytics.privacy import SMALL_GROUP_LABEL, is_small_group, min_group_size
from analytics.tools.common import cached, money, pct, read_cursor, segment_filter
from analytics.tools.registry import tool
from sql import query


class AnalyzeBehaviorInput(ToolInput):
    """How behaviour changed since an earlier discovery run."""

    focus: Literal["recent_change", "segment_moves", "declining", "one_time_buyers", "discount_dependency"] = Field(
        "recent_change", description="recent_change: each customer's last `window_weeks` against their own "
        "history (pace slowing, basket shrinking, category switch, discount dependence, return spike); "
        "segment_moves: customers who changed segment since an earlier run; declining: falling engagement "
        "since an earlier run; one_time_buyers: single-order customers; discount_dependency: buying mostly "
        "on discount."
    )
    window_weeks: Literal[2, 4, 8] = Field(4, description="For recent_change: the recent window in weeks.")
    days_ago: Literal[7, 14, 28] = Field(7, description="Compare with the run this many days ago.")
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    limit: int = Field(20, ge=1, le=100)


class SegmentMove(BaseModel):
    axis: str
    from_segment: str
    to_segment: str
    customers: int
    lifetime_value: float


class CustomerMove(BaseModel):
    public_id: str
    axis: str
    from_segment: str
    to_segment: str
    lifetime_value: float


class DecliningCustomer(BaseModel):
    public_id: str
    value_tier: str | None
    lifetime_value: float
    days_since_last_order: int | None
    churn_before: float | None
    churn_now: float | None
    risk_before: str | None
    risk_now: str | None
    expected_purchases_90d_before: float | None
    expected_purchases_90d_now: float | None


class OneTimeStats(BaseModel):
    customers: int
    one_time: int
    share: float | None
    lifetime_value: float
    by_days_since_order: dict[str, int] | None = Field(None, description="None when the group is too small")
    was_one_time_before: int | None = None
    converted_since: int | None = Field(None, description="One-time buyers in the earlier run who ordered again")


class OneTimeBuyer(BaseModel):
    public_id: str
    order_value: float
    days_since_order: int | None
    churn_probability: float | None


class DiscountStats(BaseModel):
    customers: int
    dependent: int
    dependent_share: float | None
    dependent_before: int | None
    dependent_value: float
    discount_given: float
    discounted_order_share: float | None


class DiscountCustomer(BaseModel):
    public_id: str
    orders: int
    discounted_orders: int
    discount_given: float
    lifetime_value: float


class ChangedCustomer(BaseModel):
    public_id: str
    value_tier: str | None
    lifetime_value: float
    signals: list[str]
    orders_before: int
    orders_recent: int
    expected_in_window: float | None
    average_order_before: float | None
    average_order_recent: float | None
    usual_categories: list[str] | None
    recent_categories: list[str] | None


class RecentChange(BaseModel):
    window_weeks: int
    customers_judged: int = Field(description="Customers with 3+ orders before the window")
    customers_changed: int
    changed_value: float
    by_signal: dict[str, int]


SIGNAL_WORDS = {
    "pace_slowing": "no order in the window though their pace promised one",
    "basket_shrinking": "orders under 60% of their usual value",
    "category_switch": "buying outside their two usual categories",
    "discount_dependence": "now mostly on discount, used to pay full price",
    "return_spike": "returning 30%+ of recent spend, used to keep almost everything",
}


class AnalyzeBehaviorResult(ToolResult):
    focus: str
    run_id: int
    as_of: datetime
    compared_run_id: int | None = None
    compared_as_of: datetime | None = None
    note: str | None = None
    segment: str | None = None
    customers_compared: int | None = None
    moves: list[SegmentMove] = Field(default_factory=list)
    moved_customers: list[CustomerMove] = Field(default_factory=list)
    declining_count: int | None = None
    declining_value: float | None = None
    declining: list[DecliningCustomer] = Field(default_factory=list)
    one_time: OneTimeStats | None = None
    one_time_buyers: list[OneTimeBuyer] = Field(default_factory=list)
    discount: DiscountStats | None = None
    discount_customers: list[DiscountCustomer] = Field(default_factory=list)
    recent_change: RecentChange | None = None
    changed_customers: list[ChangedCustomer] = Field(default_factory=list)


def earlier_run(ctx: ToolContext, days_ago: int, required: bool) -> tuple[RunInfo | None, str | None]:
    """The run `days_ago` older (or the previous one, with a note); ToolError if required and none exists."""
    old = run_days_ago(ctx, days_ago)
    if old is not None:
        return old, None
    old = previous_run(ctx)
    if old is None:
        if required:
            raise ToolError("There is only one discovery run so far: behaviour change needs an earlier run to "
                            "compare with. Discovery runs on its schedule; ask again after the next run.")
        return None, "There is no earlier discovery run to compare with yet."
    return old, (f"No run is {days_ago} days older than the current one; comparing with the run of "
                 f"{old.as_of:%Y-%m-%d} instead.")


def _fold_moves(ctx: ToolContext, rows: list[dict]) -> list[SegmentMove]:
    kept = [r for r in rows if not is_small_group(ctx, r["customers"])]
    small = [r for r in rows if is_small_group(ctx, r["customers"])]
    for axis in dict.fromkeys(r["axis"] for r in small):
        group = [r for r in small if r["axis"] == axis]
        kept.append({"axis": axis, "from_segment": SMALL_GROUP_LABEL, "to_segment": SMALL_GROUP_LABEL,
                     "customers": sum(r["customers"] for r in group),
                     "lifetime_value": sum(float(r["lifetime_value"]) for r in group)})
    return [SegmentMove(axis=r["axis"], from_segment=r["from_segment"], to_segment=r["to_segment"],
                        customers=r["customers"], lifetime_value=round(float(r["lifetime_value"]), 2)) for r in kept]


@tool("analyze_behavior",
          "How customer behaviour changed: focus=recent_change (default; each regular customer's last 2, 4 or 8 "
          "weeks against their own history: pace slowing, basket shrinking, category switch, discount dependence, "
          "return spike; works from a single discovery run), segment_moves (who moved between segments since the "
          "run 7, 14 or 28 days ago), declining (rising churn, falling expected purchases since then), "
          "one_time_buyers (single-order customers and how many came back), discount_dependency (customers "
          "buying mostly on discount). Optionally within one segment.",
      title="Behaviour change", exportable=True,
      warm=tuple({"focus": f} for f in ("recent_change", "segment_moves", "declining", "one_time_buyers",
                                        "discount_dependency")))
def analyze_behavior(ctx: ToolContext, params: AnalyzeBehaviorInput) -> AnalyzeBehaviorResult:
    run = require_current_run(ctx)
    axis, segment = segment_filter(ctx, params.segment, run.run_id)
    focus = params.focus
    old, note = earlier_run(ctx, params.days_ago, required=False)
    if old is None and focus in ("segment_moves", "declining"):
        # A fresh install has one run: answer with each customer's own recent change instead.
        note = (f"Moves between runs need an earlier discovery run (there is only one so far); here is how "
                f"customers changed against their own history over the last {params.window_weeks} weeks instead.")
        focus = "recent_change"

    def compute() -> AnalyzeBehaviorResult:
        sql_params = {"run_id": run.run_id, "old_run_id": old.run_id if old else None, "axis": axis,
                      "segment": segment, "limit": params.limit, "as_of": run.as_of,
                      "old_as_of": old.as_of if old else None, "share": DISCOUNT_DEPENDENT_SHARE}
        result = AnalyzeBehaviorResult(
            tool="analyze_behavior", summary="", focus=focus, run_id=run.run_id, as_of=run.as_of,
            compared_run_id=old.run_id if old else None, compared_as_of=old.as_of if old else None, note=note,
            segment=f"{axis}:{segment}" if axis else None)
        since = f" since the run of {old.as_of:%Y-%m-%d}" if old else ""
        within = f" in {axis}:{segment}" if axis else ""
        with read_cursor(ctx) as cur:
            if old is not None:
                cur.execute(query("behavior.compared"), sql_params)
                result.customers_compared = cur.fetchone()["customers"]
            if focus == "recent_change":
                cur.execute(query("behavior.recent_change"), {**sql_params, "window_days": params.window_weeks * 7})
                found = cur.fetchone()
                result.recent_change = RecentChange(
                    window_weeks=params.window_weeks, customers_judged=found["judged"],
                    customers_changed=found["changed"], changed_value=round(float(found["changed_value"]), 2),
                    by_signal=dict(sorted(found["by_signal"].items(), key=lambda kv: -kv[1])))
                result.changed_customers = [ChangedCustomer(
                    public_id=r["public_id"], value_tier=r["value_tier"], lifetime_value=float(r["revenue"]),
                    signals=r["signals"], orders_before=r["orders_before"], orders_recent=r["orders_recent"],
                    expected_in_window=r["expected_in_window"], average_order_before=r["aov_before"],
                    average_order_recent=r["aov_recent"], usual_categories=r["usual_categories"],
                    recent_categories=r["recent_categories"]) for r in found["rows"]]
                rc = result.recent_change
                top = ", ".join(f"{SIGNAL_WORDS[k].split(',')[0]} ({v:,})" for k, v in list(rc.by_signal.items())[:3])
                result.summary = (f"{rc.customers_changed:,} of {rc.customers_judged:,} regular customers{within} "
                                  f"changed in the last {rc.window_weeks} weeks against their own history, holding "
                                  f"{money(rc.changed_value)} lifetime value" + (f": {top}." if top else "."))
            elif focus == "segment_moves":
                cur.execute(query("behavior.moves"), sql_params)
                found = cur.fetchone()
                moves = found["moves"]
                result.moved_customers = [CustomerMove(**r) for r in found["movers"]]
                result.moves = _fold_moves(ctx, moves)
                moved = sum(m["customers"] for m in moves)
                top = next((m for m in result.moves if m.from_segment != SMALL_GROUP_LABEL), None)
                result.summary = (f"{moved:,} segment moves{within}{since} among {result.customers_compared:,} "
                                  f"customers in both runs." + (
                                      f" Most common: {top.axis} {top.from_segment} → {top.to_segment} "
                                      f"({top.customers:,})." if top else ""))
            elif focus == "declining":
                cur.execute(query("behavior.declining"), sql_params)
                rows = cur.fetchall()
                result.declining_count = rows[0]["total"] if rows else 0
                result.declining_value = round(float(rows[0]["total_value"]), 2) if rows else 0.0
                result.declining = [DecliningCustomer(
                    public_id=r["public_id"], value_tier=r["value_tier"], lifetime_value=float(r["revenue"]),
                    days_since_last_order=r["recency_days"], churn_before=r["churn_before"],
                    churn_now=r["churn_now"], risk_before=r["risk_before"], risk_now=r["risk_now"],
                    expected_purchases_90d_before=r["expected_before"],
                    expected_purchases_90d_now=r["expected_now"]) for r in rows]
                result.summary = (f"{result.declining_count:,} customers{within} show declining engagement{since} "
                                  f"(churn up 10+ points, a worse risk level or 30%+ fewer expected purchases), "
                                  f"holding {money(result.declining_value)} lifetime value.")
            elif focus == "one_time_buyers":
                cur.execute(query("behavior.one_time_stats"), sql_params)
                s = cur.fetchone()
                stats = OneTimeStats(customers=s["customers"], one_time=s["one_time"],
                                     share=s["one_time"] / s["customers"] if s["customers"] else None,
                                     lifetime_value=float(s["one_time_value"]))
                if s["one_time"] >= min_group_size(ctx):
                    stats.by_days_since_order = {"0-30": s["within_30_days"], "31-90": s["within_31_90_days"],
                                                 "91-180": s["within_91_180_days"], "180+": s["over_180_days"]}
                if old is not None:
                    cur.execute(query("behavior.one_time_converted"), sql_params)
                    c = cur.fetchone()
                    stats.was_one_time_before, stats.converted_since = c["was_one_time"], c["converted"]
                cur.execute(query("behavior.one_time_buyers"), sql_params)
                result.one_time_buyers = [OneTimeBuyer(public_id=r["public_id"], order_value=float(r["order_value"]),
                                                       days_since_order=r["recency_days"],
                                                       churn_probability=r["churn_probability"])
                                          for r in cur.fetchall()]
                result.one_time = stats
                result.summary = (f"{stats.one_time:,} of {stats.customers:,} customers{within} ({pct(stats.share)}) "
                                  f"have ordered once, worth {money(stats.lifetime_value)}.")
                if stats.converted_since is not None:
                    result.summary += (f" {stats.converted_since:,} of the {stats.was_one_time_before:,} one-time "
                                       f"buyers{since} have ordered again.")
            else:
                cur.execute(query("behavior.discount_usage"), sql_params)
                d = cur.fetchone()
                result.discount = DiscountStats(
                    customers=d["customers"], dependent=d["dependent"],
                    dependent_share=d["dependent"] / d["customers"] if d["customers"] else None,
                    dependent_before=d["dependent_before"] if old else None,
                    dependent_value=round(float(d["dependent_value"]), 2),
                    discount_given=round(float(d["dependent_discount_given"]), 2),
                    discounted_order_share=(d["discounted_orders"] / d["orders"]) if d["orders"] else None)
                result.discount_customers = [DiscountCustomer(
                    public_id=r["public_id"], orders=r["orders"], discounted_orders=r["discounted"],
                    discount_given=float(r["discount_given"]), lifetime_value=float(r["revenue"])) for r in d["top"]]
                dd = result.discount
                result.summary = (f"{dd.dependent:,} of {dd.customers:,} customers{within} ({pct(dd.dependent_share)}) "
                                  f"buy mostly on discount (2+ orders, {pct(DISCOUNT_DEPENDENT_SHARE)}+ discounted), "
                                  f"worth {money(dd.dependent_value)}; {pct(dd.discounted_order_share)} of all orders "
                                  f"used a discount.")
                if dd.dependent_before is not None:
                    result.summary += f" {dd.dependent_before:,} were discount-dependent{since}."
        if note:
            result.summary += " " + note
        return result

    return cached(ctx, "analyze_behavior", run.run_id, f"{old.run_id if old else None}:{focus}:{params.model_dump_json()}",
                  compute, AnalyzeBehaviorResult)
