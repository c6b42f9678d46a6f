"""The tools' input models: the contract between the routers and the query modules.

Each model's JSON schema (with these field descriptions) is exactly what Claude sees as the tool's
`input_schema`; the offline router fills the same models. Keep descriptions short and concrete.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Axis = Literal[
    "frequency", "value", "exploration", "price_sensitivity",
    "cadence", "maturity", "repurchase", "returns",
]
AXES: tuple[str, ...] = Axis.__args__  # type: ignore[attr-defined]

RiskLevel = Literal["low", "medium", "high", "critical"]
ValueTier = Literal["whale", "vip", "high", "regular", "new"]

PERIOD_HELP = (
    "Time window relative to the latest order in the data: 'last_90_days', 'last_12_weeks', "
    "'last_6_months', 'last_quarter', 'this_year', 'last_year', a quarter '2010-Q4', a month "
    "'2010-11', a year '2010', or 'YYYY-MM-DD..YYYY-MM-DD'. Omit for all history."
)
CUSTOMER_HELP = "The customer's pseudonymous id 'C-XXXXXXXX' or the store's own customer id."
SEGMENT_HELP = "A behavioural segment as 'axis:name' (e.g. 'frequency:frequent') or just its name."
ARCHETYPE_HELP = "An archetype id (e.g. 'A-1f3c9e') or its name."


class ToolInput(BaseModel):
    # allow_inf_nan=False: "inf" is not an amount, and Infinity is not JSON (Slack, Redis).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value):
        # PostgreSQL text cannot hold NUL, and no id or name has control characters: say so here
        # rather than fail inside a query.
        if isinstance(value, str) and any(ord(ch) < 32 for ch in value):
            raise ValueError("contains a control character; use plain text")
        return value


class LookupCustomerInput(ToolInput):
    """One customer's full profile."""

    customer: str = Field(..., min_length=1, max_length=64, description=CUSTOMER_HELP)


class AnalyzeCustomersInput(ToolInput):
    """Lists of customers ranked by churn risk, value, recency or frequency, with filters."""

    sort_by: Literal["churn_risk", "value", "predicted_value", "recency", "frequency"] = Field(
        "churn_risk", description="Ranking: churn_risk (highest first), value (lifetime revenue), "
        "predicted_value (next 12 months), recency (longest since last order first), frequency (most orders)."
    )
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP)
    value_tier: ValueTier | None = Field(None, description="Only customers in this value tier.")
    risk_level: RiskLevel | None = Field(None, description="Only customers at this churn risk level.")
    min_value: float | None = Field(None, ge=0, description="Minimum lifetime revenue in the store's currency.")
    limit: int = Field(10, ge=1, le=100, description="How many customers to list.")
    # Bounded: PostgreSQL's OFFSET is a bigint, and no store lists ten million customers.
    offset: int = Field(0, ge=0, le=10_000_000, description="Skip this many (for 'show more').")


class AnalyzeSegmentsInput(ToolInput):
    """Behavioural segments: overview, one in depth, two compared, or change between runs."""

    mode: Literal["overview", "detail", "compare", "changes"] = Field(
        "overview", description="overview of all axes; detail of one segment; compare two segments; "
        "changes in segment sizes since an earlier run."
    )
    axis: Axis | None = Field(None, description="Restrict the overview to one behavioural axis.")
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    other_segment: str | None = Field(None, max_length=80, description="The second segment for mode=compare.")
    days_ago: Literal[7, 14, 28] = Field(7, description="For mode=changes: compare with the run this many days ago.")


class SegmentInfoInput(ToolInput):
    """An archetype or segment card; with no name, the largest archetypes."""

    name: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP + " Or " + SEGMENT_HELP)


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


class ForecastMetricsInput(ToolInput):
    """Forecast of a store metric with an 80% interval and the model's own backtest error."""

    metric: Literal["revenue", "orders", "active_customers", "average_order_value"] = "revenue"
    horizon: int = Field(90, ge=1, le=730, description="How far ahead, in `unit`s.")
    unit: Literal["days", "weeks", "months"] = Field("days", description="Unit of the horizon.")


class TargetCampaignInput(ToolInput):
    """Pick customers for a campaign, with reasons, expected value and a CSV export."""

    campaign: Literal["retention", "win_back", "upsell", "vip", "seasonal"] = Field(
        ..., description="retention: active but at risk; win_back: lapsed; upsell: growing or low-basket "
        "loyal buyers; vip: the most valuable; seasonal: holiday/seasonal buyers before their season."
    )
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP)
    min_value: float | None = Field(None, ge=0, description="Minimum lifetime revenue.")
    limit: int = Field(100, ge=1, le=5000, description="Maximum customers to select.")


class AnalyzeBehaviorInput(ToolInput):
    """How behaviour changed since an earlier discovery run."""

    focus: Literal["segment_moves", "declining", "one_time_buyers", "discount_dependency"] = Field(
        "segment_moves", description="segment_moves: customers who changed segment; declining: falling "
        "engagement; one_time_buyers: single-order customers; discount_dependency: buying mostly on discount."
    )
    days_ago: Literal[7, 14, 28] = Field(7, description="Compare with the run this many days ago.")
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    limit: int = Field(20, ge=1, le=100)


class GetRecommendationsInput(ToolInput):
    """Next best actions for one customer, a segment or an archetype (or the store overall)."""

    customer: str | None = Field(None, max_length=64, description=CUSTOMER_HELP)
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP)


TOOL_INPUTS: dict[str, type[ToolInput]] = {
    "lookup_customer": LookupCustomerInput,
    "analyze_customers": AnalyzeCustomersInput,
    "analyze_segments": AnalyzeSegmentsInput,
    "segment_info": SegmentInfoInput,
    "analyze_products": AnalyzeProductsInput,
    "forecast_metrics": ForecastMetricsInput,
    "target_campaign": TargetCampaignInput,
    "analyze_behavior": AnalyzeBehaviorInput,
    "get_recommendations": GetRecommendationsInput,
}
