"""The weekly customer review the bot can post unasked (issue: the bot speaks first): last week
against the week before and the same week last year, the at-risk customers who matter most, how
regular customers changed lately, and the forecast for the coming weeks — composed from the same
tools that answer questions, so its figures are theirs."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool

FIGURES = ("net_revenue", "orders", "average_order_value", "new_customers", "active_customers", "return_rate")
AT_RISK_SHOWN = 5


class FigureWeek(BaseModel):
    figure: str
    last_week: float | None
    week_before: float | None
    change_pct: float | None
    same_week_last_year: float | None
    change_on_last_year_pct: float | None


class ReviewCustomer(BaseModel):
    public_id: str
    value_tier: str | None
    lifetime_value: float
    value_at_stake: float | None
    days_since_last_order: int | None


class WeeklyReview(BaseModel):
    week_start: date
    week_end: date
    summary: str
    figures: list[FigureWeek]
    at_risk_customers: int
    at_risk_value_at_stake: float
    at_risk: list[ReviewCustomer]
    changed_customers: int | None = None
    changes_by_signal: dict[str, int] = {}
    forecast_weeks: int = 4
    forecast_total: float | None = None
    forecast_lower: float | None = None
    forecast_upper: float | None = None
    forecast: dict | None = None            # the forecast tool's result, for its chart
    notes: list[str] = []


def weekly_review(ctx: ToolContext) -> WeeklyReview:
    """The review for the latest complete 7 days of orders (periods are measured from the latest order)."""
    week = run_tool(ctx, "store_metrics", {"period": "last_7_days", "compare": "previous_period"})
    year = run_tool(ctx, "store_metrics", {"period": "last_7_days", "compare": "last_year"})
    before = {c.figure: c for c in week.comparison}
    last_year = {c.figure: c for c in year.comparison}
    figures = [FigureWeek(figure=name, last_week=before[name].current, week_before=before[name].previous,
                          change_pct=before[name].change_pct,
                          same_week_last_year=last_year[name].previous if last_year[name].previous else None,
                          change_on_last_year_pct=last_year[name].change_pct) for name in FIGURES]
    notes: list[str] = []
    at_risk = run_tool(ctx, "analyze_customers", {"lifecycle": "at_risk", "sort_by": "value_at_stake",
                                                  "limit": AT_RISK_SHOWN})
    review = WeeklyReview(
        week_start=week.start, week_end=week.end, summary="", figures=figures,
        at_risk_customers=at_risk.totals.customers, at_risk_value_at_stake=round(
            sum(r.value_at_stake or 0 for r in at_risk.rows), 2),
        at_risk=[ReviewCustomer(public_id=r.public_id, value_tier=r.value_tier, lifetime_value=r.lifetime_value,
                                value_at_stake=r.value_at_stake, days_since_last_order=r.days_since_last_order)
                 for r in at_risk.rows])
    try:
        change = run_tool(ctx, "analyze_behavior", {"focus": "recent_change", "window_weeks": 2}).recent_change
        review.changed_customers, review.changes_by_signal = change.customers_changed, change.by_signal
    except ToolError as exc:
        notes.append(f"Behaviour change: {exc}")
    try:
        forecast = run_tool(ctx, "forecast_metrics", {"metric": "revenue", "horizon": 4, "unit": "weeks"})
        review.forecast_total, review.forecast_lower, review.forecast_upper = forecast.total, forecast.lower, forecast.upper
        review.forecast = forecast.model_dump(mode="json")
    except ToolError as exc:
        notes.append(f"Forecast: {exc}")
    revenue = before["net_revenue"]
    direction = "up" if (revenue.change_pct or 0) > 0 else "down" if (revenue.change_pct or 0) < 0 else "flat"
    review.summary = (
        f"Week {week.start:%Y-%m-%d} to {week.end:%Y-%m-%d}: net revenue {revenue.current:,.2f}, {direction} "
        f"{abs(revenue.change_pct or 0):.0%} on the week before"
        + (f" and {last_year['net_revenue'].change_pct:+.0%} on the same week last year"
           if last_year["net_revenue"].change_pct is not None else "")
        + f". {review.at_risk_customers:,} customers are at risk"
        + (f"; the {len(review.at_risk)} with most at stake hold {review.at_risk_value_at_stake:,.0f} of a year's spend"
           if review.at_risk else "") + ".")
    review.notes = notes
    return review
