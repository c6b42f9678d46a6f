"""One customer's context — value, tier, churn, segments, archetype, recent orders, open risks —
built once here and used by lookup_customer, Slack, the router and Gorgias alike.

Chat-facing callers get no personal data; only Gorgias asks for `include_pii=True`."""
from __future__ import annotations

from datetime import date, datetime  # noqa: F401 - `date` is the type of RecentOrder.date
from typing import Literal

from pydantic import BaseModel, Field

from analytics.core import RunInfo, current_run
from analytics.core import ToolContext, ToolError
from sql import query

RECENT_ORDERS = 5
RECENT_RETURN_DAYS = 90          # a return this recent is still on the customer's mind
DISCOUNT_DEPENDENT_SHARE = 0.5   # half or more of the orders used a discount
LAPSING_FACTOR = 1.5             # silent for 1.5x their usual gap between orders


class SegmentMembership(BaseModel):
    axis: str
    segment: str
    membership: float | None = Field(None, description="Fuzzy membership 0..1 in this segment")
    strength: str | None = Field(None, description="strong | balanced | weak")


class RecentOrder(BaseModel):
    date: date
    kind: str
    items: int
    total: float
    discounted: bool
    categories: list[str]


class OpenRisk(BaseModel):
    code: Literal["recent_return", "lapsing", "discount_dependent", "high_churn_risk", "one_time_buyer"]
    detail: str


class CustomerPII(BaseModel):
    """Only for the store's own helpdesk (Gorgias); never in chat."""

    store_customer_id: str
    name: str | None = None
    email: str | None = None
    phone: str | None = None


class CompensationTier(BaseModel):
    threshold: float
    percent: float
    label: str


class CustomerContext(BaseModel):
    public_id: str
    run_id: int | None = None
    as_of: datetime | None = None
    has_profile: bool = Field(description="False when the current run has not scored this customer yet")
    country: str | None = None
    value_tier: str | None = None
    orders: int
    lifetime_value: float
    average_order_value: float | None = None
    first_order_at: datetime | None = None
    last_order_at: datetime | None = None
    days_since_last_order: int | None = None
    tenure_days: int | None = None
    history: str | None = None
    churn_probability: float | None = None
    probability_alive: float | None = None
    risk_level: str | None = None
    churn_reasons: list[str] = Field(default_factory=list)
    expected_purchases_30d: float | None = None
    expected_purchases_90d: float | None = None
    predicted_value_12m: float | None = None
    dominant_segments: list[SegmentMembership] = Field(default_factory=list)
    archetype_id: str | None = None
    archetype_name: str | None = None
    recent_orders: list[RecentOrder] = Field(default_factory=list)
    open_risks: list[OpenRisk] = Field(default_factory=list)
    discounted_order_share: float | None = None
    compensation: CompensationTier
    pii: CustomerPII | None = None


def compensation_tier(settings, lifetime_value: float) -> CompensationTier:
    """The discount/compensation tier for this lifetime value, from COMPENSATION_TIERS (highest first)."""
    for threshold, percent in settings.compensation_table:
        if lifetime_value >= threshold:
            return CompensationTier(threshold=threshold, percent=percent,
                                    label=f"lifetime value ≥ {threshold:,.0f} → {percent:g}%")
    return CompensationTier(threshold=0.0, percent=0.0, label="no tier applies")


def fallback_value_tier(settings, lifetime_value: float, orders: int) -> str:
    """Tier for a customer the run has not scored, from the same thresholds as compensation."""
    if orders <= 1:
        return "new"
    names = ["whale", "vip", "high"]
    for name, (threshold, _) in zip(names, [t for t in settings.compensation_table if t[0] > 0]):
        if lifetime_value >= threshold:
            return name
    return "regular"


def _float(value) -> float | None:
    return None if value is None else float(value)


def customer_context(ctx: ToolContext, customer_id: int, include_pii: bool = False,
                     run: RunInfo | None = None) -> CustomerContext:
    """The full context of one customer (internal id, see analytics.resolve) in the current run."""
    run = run or current_run(ctx)
    run_id = run.run_id if run else None
    with ctx.db.cursor() as cur:
        cur.execute(query("enrichment.customer"), {"customer_id": customer_id, "run_id": run_id})
        row = cur.fetchone()
        if row is None:
            raise ToolError(f"No customer with internal id {customer_id}.")
        cur.execute(query("enrichment.order_stats"),
                    {"customer_id": customer_id, "as_of": run.as_of if run else None})
        stats = cur.fetchone()
        cur.execute(query("enrichment.recent_orders"), {"customer_id": customer_id, "limit": RECENT_ORDERS})
        recent = cur.fetchall()

    has_profile = row["run_id"] is not None
    if not has_profile and run is not None:
        # Not scored by this run (a customer imported since): every order counts, not just those to as_of.
        with ctx.db.cursor() as cur:
            cur.execute(query("enrichment.order_stats"), {"customer_id": customer_id, "as_of": None})
            stats = cur.fetchone()
    elif has_profile and run.as_of is not None:
        with ctx.db.cursor() as cur:
            cur.execute(query("enrichment.orders_since_run"), {"customer_id": customer_id, "as_of": run.as_of})
            stats = {**stats, **cur.fetchone()}
    context = context_from_rows(ctx.settings, run, row, stats, recent)
    if include_pii:
        context.pii = CustomerPII(store_customer_id=row["store_customer_id"], name=row["name"],
                                  email=row["email"], phone=row["phone"])
    return context


def context_from_rows(settings, run: RunInfo | None, row: dict, stats: dict, recent: list[dict]) -> CustomerContext:
    """The one mapping from the enrichment's reads (enrichment.customer's row, enrichment.order_stats'
    figures, enrichment.recent_orders' rows) to a CustomerContext without personal data. Gorgias's
    batch read (gorgias.customers_facts) feeds the same function, so its notes carry the same facts."""
    has_profile = row["run_id"] is not None
    if has_profile:
        orders, revenue = row["orders"], float(row["revenue"])
        first_at, last_at = row["first_order_at"], row["last_order_at"]
        aov = _float(row["avg_order_value"])
        days_since = row["recency_days"]
        if stats.get("orders_since_run") or stats.get("revenue_since_run"):
            # Orders arrived since the run (a Shopify sync or webhook, an import): current figures now,
            # the scores (churn, segments, predictions) with the next run.
            orders += stats["orders_since_run"]
            revenue += float(stats["revenue_since_run"])
            aov = revenue / orders if orders else None
            if stats.get("last_order_since_run") is not None:
                last_at = stats["last_order_since_run"]
                reference = stats["store_latest_order_at"]
                days_since = (reference - last_at).days if reference else 0
    else:
        orders, revenue = stats["orders"], float(stats["revenue"])
        first_at, last_at = stats["first_order_at"], stats["last_order_at"]
        aov = revenue / orders if orders else None
        reference = stats["store_latest_order_at"]
        days_since = (reference - last_at).days if (reference and last_at) else None

    memberships = row["memberships"] or {}
    strengths = row["segment_strengths"] or {}
    segments = []
    for axis, segment in (row["dominant_segments"] or {}).items():
        segments.append(SegmentMembership(
            axis=axis, segment=segment,
            membership=_float((memberships.get(axis) or {}).get(segment)),
            strength=strengths.get(axis)))
    segments.sort(key=lambda s: -(s.membership or 0))

    discounted_share = stats["discounted_orders"] / stats["orders"] if stats["orders"] else None
    context = CustomerContext(
        public_id=row["public_id"] or "C-????????",
        run_id=run.run_id if run else None, as_of=run.as_of if run else None, has_profile=has_profile,
        country=row["country"],
        value_tier=row["value_tier"] or fallback_value_tier(settings, revenue, orders),
        orders=orders, lifetime_value=round(revenue, 2),
        average_order_value=None if aov is None else round(aov, 2),
        first_order_at=first_at, last_order_at=last_at, days_since_last_order=days_since,
        tenure_days=row["tenure_days"] if has_profile else (
            (last_at - first_at).days if first_at and last_at else None),
        history=row["history"],
        churn_probability=row["churn_probability"], probability_alive=row["probability_alive"],
        risk_level=row["risk_level"], churn_reasons=list(row["churn_reasons"] or []),
        expected_purchases_30d=row["expected_purchases_30d"],
        expected_purchases_90d=row["expected_purchases_90d"],
        predicted_value_12m=_float(row["predicted_clv_12m"]),
        dominant_segments=segments,
        archetype_id=row["archetype_id"], archetype_name=row["archetype_name"],
        recent_orders=[RecentOrder(date=r["ordered_at"].date(), kind=r["kind"], items=r["items"],
                                   total=float(r["total"]), discounted=float(r["discount_total"]) > 0,
                                   categories=list(r["categories"])) for r in recent],
        discounted_order_share=None if discounted_share is None else round(discounted_share, 3),
        compensation=compensation_tier(settings, revenue),
    )
    reference = run.as_of if (run and has_profile) else stats["store_latest_order_at"]
    context.open_risks = open_risks(context, stats["last_return_at"], reference)
    return context


def open_risks(context: CustomerContext, last_return_at: datetime | None,
               reference: datetime | None) -> list[OpenRisk]:
    """What an agent or marketer should know before contacting this customer."""
    risks: list[OpenRisk] = []
    if last_return_at and reference and (reference - last_return_at).days <= RECENT_RETURN_DAYS:
        risks.append(OpenRisk(code="recent_return",
                              detail=f"returned an order {(reference - last_return_at).days} days ago"))
    if context.risk_level in ("high", "critical"):
        churn = f" ({context.churn_probability:.0%} churn probability)" if context.churn_probability is not None else ""
        risks.append(OpenRisk(code="high_churn_risk", detail=f"{context.risk_level} churn risk{churn}"))
    if (context.orders >= 2 and context.first_order_at and context.last_order_at
            and context.days_since_last_order is not None):
        usual_gap = (context.last_order_at - context.first_order_at).days / (context.orders - 1)
        if usual_gap > 0 and context.days_since_last_order > LAPSING_FACTOR * usual_gap:
            risks.append(OpenRisk(code="lapsing", detail=(
                f"{context.days_since_last_order} days since the last order, usually every {usual_gap:.0f} days")))
    if context.orders == 1 and (context.days_since_last_order or 0) > 60:
        risks.append(OpenRisk(code="one_time_buyer",
                              detail=f"one order, {context.days_since_last_order} days ago, never came back"))
    if (context.orders >= 2 and context.discounted_order_share is not None
            and context.discounted_order_share >= DISCOUNT_DEPENDENT_SHARE):
        risks.append(OpenRisk(code="discount_dependent",
                              detail=f"{context.discounted_order_share:.0%} of orders used a discount"))
    return risks
