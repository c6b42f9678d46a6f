"""The weekly customer review the bot can post unasked (issue: the bot speaks first): last week
against the week before and the same week last year, the at-risk customers who matter most, the
customers who lapsed since the run a week before, the segments that moved most, how regular customers
changed lately, and the forecast for the coming weeks — composed from the same tools that answer
questions (and the same lifecycle stages), so its figures are theirs."""
from __future__ import annotations

from datetime import date

from pydantic import BaseModel

from analytics.core import ToolContext, ToolError, current_run, previous_run, run_days_ago
from analytics.privacy import SMALL_GROUP_LABEL
from analytics.tools.registry import run_tool
from sql import query

FIGURES = ("net_revenue", "orders", "average_order_value", "new_customers", "active_customers", "return_rate")
AT_RISK_SHOWN = 5
LAPSED_SHOWN = 5
SEGMENT_MOVES_SHOWN = 3


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


class SegmentMove(BaseModel):
    axis: str
    name: str
    members_now: int
    members_before: int
    change: int


class WeeklyReview(BaseModel):
    week_start: date
    week_end: date
    summary: str
    figures: list[FigureWeek]
    at_risk_customers: int
    at_risk_value_at_stake: float
    at_risk: list[ReviewCustomer]
    compared_with_run_of: date | None = None   # the earlier run lapses and segment moves are measured from
    lapsed_customers: int = 0
    lapsed_lifetime_value: float = 0.0
    lapsed: list[ReviewCustomer] = []
    segment_moves: list[SegmentMove] = []
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
    _since_a_week_ago(ctx, review)
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
    if review.lapsed_customers:
        review.summary += (f" {review.lapsed_customers:,} lapsed since the run of {review.compared_with_run_of:%Y-%m-%d} "
                           f"(lifetime value {review.lapsed_lifetime_value:,.0f}).")
    review.notes = notes
    return review


def _since_a_week_ago(ctx: ToolContext, review: WeeklyReview) -> None:
    """Customers who lapsed, and the segments that moved most, since the run a week before the current
    one (or the previous run when none is that old); nothing with a single run."""
    run = current_run(ctx)
    old = run_days_ago(ctx, 7) or previous_run(ctx)
    if run is None or old is None:
        return
    review.compared_with_run_of = old.as_of.date()
    with ctx.db.cursor() as cur:
        cur.execute(query("review.lapsed_since"), {"run_id": run.run_id, "old_run_id": old.run_id,
                                                    "limit": LAPSED_SHOWN})
        rows = cur.fetchall()
    if rows:
        review.lapsed_customers = int(rows[0]["customers"])
        review.lapsed_lifetime_value = round(float(rows[0]["total_revenue"]), 2)
        review.lapsed = [ReviewCustomer(public_id=r["public_id"], value_tier=r["value_tier"],
                                        lifetime_value=round(r["revenue"], 2), value_at_stake=None,
                                        days_since_last_order=r["recency_days"]) for r in rows]
    # Segment sizes through the tool, so groups under the privacy minimum stay folded.
    changes = run_tool(ctx, "analyze_segments", {"mode": "changes", "days_ago": 7}).changes
    moves = [c for c in changes if c.name != SMALL_GROUP_LABEL and c.change]
    moves.sort(key=lambda c: (-abs(c.change), c.axis, c.name))
    review.segment_moves = [SegmentMove(axis=c.axis, name=c.name, members_now=c.members_now,
                                        members_before=c.members_before, change=c.change)
                            for c in moves[:SEGMENT_MOVES_SHOWN]]
