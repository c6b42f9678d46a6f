"""get_recommendations: next best actions for one customer, a segment, an archetype or the whole
store, each with its reason, the customers and value concerned, and the compensation/discount tier
from COMPENSATION_TIERS."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics.core import ARCHETYPE_HELP, CUSTOMER_HELP, RunInfo, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, require_current_run
from analytics.enrichment import CompensationTier, CustomerContext, compensation_tier, customer_context
from analytics.privacy import is_small_group, min_group_size
from analytics.resolve import resolve_customer
from analytics.tools.common import archetype_filter, cached, money, num, pct, read_cursor, segment_filter
from analytics.tools.segment_info import TypicalProduct, typical_products
from analytics.tools.target_campaign import CAMPAIGNS, campaign_totals
from analytics.tools.registry import tool
from sql import query

class GetRecommendationsInput(ToolInput):
    """Next best actions for one customer, a segment or an archetype (or the store overall)."""

    customer: str | None = Field(None, max_length=64, description=CUSTOMER_HELP)
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP)


GROUP_CAMPAIGNS = ("retention", "win_back", "upsell", "vip")
ACTION_TITLES = {
    "retention": "Retention campaign for repeat buyers at risk",
    "win_back": "Win-back campaign for lapsed customers",
    "upsell": "Upsell bundles to loyal small-basket buyers",
    "vip": "VIP programme for the most valuable customers",
}


class Action(BaseModel):
    title: str
    why: str
    priority: Literal["high", "medium", "low"]
    customers: int | None = None
    value_at_stake: float | None = None
    discount_percent: float | None = None
    follow_up: dict[str, Any] | None = Field(None, description="A tool call that carries the action out")


class GetRecommendationsResult(ToolResult):
    scope: Literal["customer", "segment", "archetype", "store"]
    subject: str
    actions: list[Action]
    compensation: CompensationTier | None = None
    discount_tiers: dict[str, int] = Field(default_factory=dict, description="discount % -> customers")
    suggested_products: list[TypicalProduct] = Field(default_factory=list)


def customer_actions(ctx: ToolContext, c: CustomerContext) -> list[Action]:
    percent = c.compensation.percent
    risks = {r.code: r.detail for r in c.open_risks}
    actions: list[Action] = []
    if "recent_return" in risks:
        actions.append(Action(title="Follow up on the recent return before any promotion", why=risks["recent_return"],
                              priority="high"))
    if c.risk_level == "critical" or (c.churn_probability or 0) >= 0.7:
        actions.append(Action(title=f"Win-back offer: {percent:g}% off the next order",
                              why=f"churn probability {pct(c.churn_probability)}, last order "
                                  f"{c.days_since_last_order} days ago; tier {c.compensation.label}",
                              priority="high", discount_percent=percent, value_at_stake=c.lifetime_value))
    elif c.risk_level in ("medium", "high") and c.orders >= 2:
        actions.append(Action(title=f"Personal check-in with a {percent:g}% loyalty thank-you",
                              why=f"{c.risk_level} churn risk ({pct(c.churn_probability)}) for a repeat buyer "
                                  f"worth {money(c.lifetime_value)}",
                              priority="high" if c.risk_level == "high" else "medium", discount_percent=percent,
                              value_at_stake=c.lifetime_value))
    if c.value_tier in ("whale", "vip") and c.risk_level in ("low", "medium", None):
        actions.append(Action(title="VIP treatment: early access and a personal note, no discount needed",
                              why=f"{c.value_tier} customer, lifetime value {money(c.lifetime_value)}",
                              priority="medium"))
    if c.orders == 1:
        actions.append(Action(title="Second-order nudge with a product they are likely to want",
                              why=f"one order so far, {c.days_since_last_order} days ago", priority="medium",
                              discount_percent=percent))
    if "discount_dependent" in risks:
        actions.append(Action(title="Offer value without deeper discounts (bundles, free shipping)",
                              why=risks["discount_dependent"], priority="low"))
    if c.risk_level == "low" and c.orders >= 2 and not actions:
        actions.append(Action(title="Cross-sell: suggest what similar customers buy",
                              why=f"loyal (churn {pct(c.churn_probability)}), {c.orders} orders", priority="low"))
    return actions


def suggested_products(ctx: ToolContext, run: RunInfo, c: CustomerContext, customer_id: int) -> list[TypicalProduct]:
    """What the customer's archetype typically buys that this customer has not bought yet."""
    if not c.archetype_id:
        return []
    popular = typical_products(ctx, run, archetype_ids=[c.archetype_id]).get(c.archetype_id, [])
    with read_cursor(ctx) as cur:
        cur.execute(query("recommendations.customer_bought"), {"customer_id": customer_id})
        owned = {r["sku"] for r in cur.fetchall()}
    return [TypicalProduct(sku=p["sku"], title=p["title"], category=p["category"], buyers=p["buyers"],
                           buyer_share=p["buyers"] / p["sampled"], revenue=float(p["revenue"]),
                           sampled_members=p["sampled"]) for p in popular if p["sku"] not in owned][:3]


def group_actions(ctx: ToolContext, run: RunInfo, filters: dict, label: str) -> list[Action]:
    actions = []
    follow_filter = {k: v for k, v in (("segment", filters.get("segment_text")),
                                       ("archetype", filters.get("archetype_id"))) if v}
    totals = campaign_totals(ctx, run, list(GROUP_CAMPAIGNS), axis=filters["axis"], segment=filters["segment"],
                             archetype_id=filters["archetype_id"])
    for campaign in GROUP_CAMPAIGNS:
        if campaign not in totals:
            continue
        eligible, value = totals[campaign]
        average = value / eligible if eligible else 0.0
        tier = compensation_tier(ctx.settings, average)
        few = is_small_group(ctx, eligible)
        who = f"fewer than {min_group_size(ctx)}" if few else f"{eligible:,}"
        actions.append(Action(
            title=ACTION_TITLES[campaign], priority="high" if campaign in ("retention", "win_back") else "medium",
            why=f"{who} customers{label} qualify: {CAMPAIGNS[campaign][0]}"
                + ("" if few else f"; their average lifetime value {money(average)} sets the tier at {tier.percent:g}%"),
            customers=None if few else eligible, value_at_stake=None if few else round(value, 2),
            discount_percent=None if campaign == "vip" else tier.percent,
            follow_up={"tool": "target_campaign", "arguments": {"campaign": campaign, **follow_filter}}))
    actions.sort(key=lambda a: (a.priority != "high", -(a.value_at_stake or 0)))
    return actions


@tool("get_recommendations",
          "Next best actions, with the reason and the discount/compensation tier (from lifetime value), for "
          "ONE customer, a segment, an archetype, or — with no argument — the whole store. Use for 'what should "
          "we do about C-1A2B3C4D?', 'how do we keep the deal seekers?', 'what should I focus on this week?'.",
      title="Recommendations", warm=({},))
def get_recommendations(ctx: ToolContext, params: GetRecommendationsInput) -> GetRecommendationsResult:
    given = [name for name in ("customer", "segment", "archetype") if getattr(params, name)]
    if len(given) > 1:
        raise ToolError(f"Give one of customer, segment or archetype, not {' and '.join(given)}.")
    run = require_current_run(ctx)
    if params.customer:
        customer_id = resolve_customer(ctx, params.customer)

        def compute_customer() -> GetRecommendationsResult:
            c = customer_context(ctx, customer_id, run=run)
            actions = customer_actions(ctx, c)
            products = suggested_products(ctx, run, c, customer_id)
            if products and (c.orders == 1 or c.risk_level == "low"):
                names = ", ".join(p.title or p.sku for p in products)
                actions.append(Action(title=f"Recommend: {names}", priority="low",
                                      why=f"popular with {c.archetype_name or 'similar customers'}, not bought yet"))
            if not actions:
                actions.append(Action(title="No action needed now", priority="low",
                                      why=f"{c.risk_level or 'unknown'} churn risk, nothing open"))
            summary = (f"{len(actions)} action(s) for {c.public_id} ({c.value_tier}, lifetime value "
                       f"{money(c.lifetime_value)}, churn {pct(c.churn_probability)}); compensation tier "
                       f"{c.compensation.percent:g}%. First: {actions[0].title}.")
            return GetRecommendationsResult(tool="get_recommendations", summary=summary, scope="customer",
                                            subject=c.public_id, actions=actions, compensation=c.compensation,
                                            suggested_products=products)

        return cached(ctx, "recommendations", run.run_id, f"customer:{customer_id}", compute_customer,
                      GetRecommendationsResult)

    axis, segment = segment_filter(ctx, params.segment, run.run_id)
    archetype_id = archetype_filter(ctx, params.archetype, run.run_id)
    scope = "segment" if axis else "archetype" if archetype_id else "store"
    subject = f"{axis}:{segment}" if axis else archetype_id or "store"

    def compute_group() -> GetRecommendationsResult:
        filters = {"axis": axis, "segment": segment, "archetype_id": archetype_id,
                   "segment_text": f"{axis}:{segment}" if axis else None}
        ascending = sorted(ctx.settings.compensation_table)   # (threshold, percent), lowest first
        with read_cursor(ctx) as cur:
            cur.execute(query("recommendations.group_stats"), {
                "run_id": run.run_id, "axis": axis, "segment": segment, "archetype_id": archetype_id,
                "thresholds": [threshold for threshold, _ in ascending]})
            stats = cur.fetchone()
        members = stats["customers"]
        if members == 0:
            raise ToolError(f"No customers in {subject} in the current run.")
        label = f" in {subject}" if scope != "store" else ""
        if is_small_group(ctx, members):
            return GetRecommendationsResult(
                tool="get_recommendations", scope=scope, subject=subject, actions=[],
                summary=f"{subject} has fewer than {min_group_size(ctx)} customers: look them up one by one instead.")
        tiers: dict[str, int] = {}
        for bucket, customers in stats["tier_buckets"].items():
            # bucket n: at or above the n-th lowest threshold; 0: below every threshold (no discount)
            percent = ascending[int(bucket) - 1][1] if int(bucket) > 0 else 0.0
            tiers[f"{percent:g}"] = tiers.get(f"{percent:g}", 0) + customers
        actions = group_actions(ctx, run, filters, label)
        average = float(stats["lifetime_value"]) / members
        compensation = compensation_tier(ctx.settings, average)
        summary = (f"{members:,} customers{label}, average lifetime value {money(average)} (tier "
                   f"{compensation.percent:g}%), average churn {pct(num(stats['average_churn']))}, "
                   f"{stats['at_risk']:,} at high or critical risk. "
                   + (f"Top action: {actions[0].title}." if actions else "No campaign applies right now."))
        return GetRecommendationsResult(tool="get_recommendations", summary=summary, scope=scope, subject=subject,
                                        actions=actions, compensation=compensation, discount_tiers=tiers)

    return cached(ctx, "recommendations", run.run_id, f"{scope}:{subject}", compute_group, GetRecommendationsResult)
