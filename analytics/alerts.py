"""Alerts worth interrupting a channel for, each with its reason in one sentence of figures: a
top-tier customer turning at_risk, last week's net revenue outside the forecast's 80 % interval, a
spike in returns of a category or product, discovery failing or the data going stale. Finds them
only; bot/alerts.py records them (once per key) and posts them."""
from __future__ import annotations

import logging
from datetime import date, datetime, timedelta, timezone
from typing import Callable, Literal

import pandas as pd
from pydantic import BaseModel

from analytics.core import ToolContext, current_run, previous_run
from analytics.tools.forecast_metrics import INTERVAL, daily_history, fit_forecaster
from discovery.forecast import interval_quantiles
from sql import query

log = logging.getLogger(__name__)

AlertKind = Literal["customer_at_risk", "revenue_outside_forecast", "return_spike", "discovery_failed",
                    "discovery_stale", "data_stale"]
# The top named tier of discovery.pipeline.value_tiers (lifetime revenue above the highest
# compensation threshold): the customers whose loss a channel wants to hear about at once.
HIGH_VALUE_TIERS = ("whale",)
AT_RISK_PER_RUN = 10
# A spike: at least RETURN_MIN_ORDERS return orders in the week (one return never fires) and at least
# RETURN_SPIKE_RATIO times the item's own weekly mean over the RETURN_BASELINE_WEEKS weeks before.
RETURN_BASELINE_WEEKS = 8
RETURN_MIN_ORDERS = 5
RETURN_SPIKE_RATIO = 3.0
RETURN_SPIKES_PER_WEEK = 3


class Alert(BaseModel):
    kind: AlertKind
    subject: str           # what it is about: a C-id, a category, "store", "discovery"
    period: str            # when: an ISO week, a run, a date; with kind and subject, the dedupe key
    reason: str            # one sentence with the figures, no personal data
    more: dict = {}        # the tool call behind "see more": {"tool": ..., "arguments": ...}

    @property
    def key(self) -> str:
        return f"{self.kind}:{self.subject}:{self.period}"


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _iso_week(day: date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def last_complete_week(latest_order_at: datetime) -> tuple[date, date]:
    """Monday to Sunday of the last calendar week that ended before the day of the latest order (UTC
    days, as the forecast's history): that day may still be filling, the week before it is done."""
    last_day = latest_order_at.astimezone(timezone.utc).date()
    week_end = last_day - timedelta(days=last_day.weekday() + 1)
    return week_end - timedelta(days=6), week_end


def customers_turning_at_risk(ctx: ToolContext) -> list[Alert]:
    """Top-tier customers at risk in the current run who were new or active in the previous one."""
    run, before = current_run(ctx), previous_run(ctx)
    if run is None or before is None:
        return []
    with ctx.db.cursor() as cur:
        cur.execute(query("alerts.newly_at_risk"), {"run_id": run.run_id, "previous_run_id": before.run_id,
                                                    "tiers": list(HIGH_VALUE_TIERS), "limit": AT_RISK_PER_RUN})
        rows = cur.fetchall()
    alerts = []
    for r in rows:
        overdue = f", {r['overdue_gaps']:.1f}× their usual gap between orders" if r["overdue_gaps"] else ""
        reason = (f"{r['public_id']} ({r['value_tier']}, lifetime value {_money(float(r['revenue']))}) went from "
                  f"{r['previous_lifecycle']} to at risk: {r['recency_days']} days since the last order{overdue}, "
                  f"churn probability {r['churn_probability']:.0%}, "
                  f"{_money(r['value_at_stake'] or 0)} of a year's spend at stake.")
        alerts.append(Alert(kind="customer_at_risk", subject=r["public_id"], period=_iso_week(run.as_of.date()),
                            reason=reason, more={"tool": "lookup_customer", "arguments": {"customer": r["public_id"]}}))
    return alerts


def revenue_outside_forecast(ctx: ToolContext, latest_order_at: datetime) -> list[Alert]:
    """Last complete week's net revenue against the 80 % interval of a forecast made from the orders
    before that week. Which forecast: the forecast_metrics model refitted on the history that ends
    the day before the week (a backtest forecast), not one stored by an earlier discovery run — runs do
    not keep forecasts, a store imported yesterday has no run before the week, and the model is
    deterministic (fixed random state), so this is exactly what the bot would have forecast then."""
    week_start, week_end = last_complete_week(latest_order_at)
    daily = daily_history(ctx, latest_order_at.astimezone(timezone.utc).date())["revenue"]
    history = daily.loc[: pd.Timestamp(week_start - timedelta(days=1))]
    if len(history) < 7:
        return []
    try:
        model, _, _ = fit_forecaster(history)
    except ValueError as exc:   # too little history to forecast from: nothing to judge against
        log.info("no revenue forecast to judge the week by: %s", exc)
        return []
    actual = float(daily.loc[pd.Timestamp(week_start): pd.Timestamp(week_end)].sum())
    lower, upper = interval_quantiles(model.simulate(7).sum(axis=1), INTERVAL)
    point = float(model.point(7).sum())
    if lower <= actual <= upper:
        return []
    side = "below" if actual < lower else "above"
    reason = (f"Net revenue for the week {week_start} to {week_end} was {_money(actual)}, {side} the "
              f"{INTERVAL:.0%} interval of the forecast made before it ({_money(lower)} – {_money(upper)}, "
              f"expected {_money(point)})" + (f", {actual / point - 1:+.0%} on the forecast." if point else "."))
    return [Alert(kind="revenue_outside_forecast", subject="store", period=_iso_week(week_end), reason=reason,
                  more={"tool": "store_metrics", "arguments": {"period": f"{week_start}..{week_end}",
                                                               "compare": "previous_period"}})]


def return_spikes(ctx: ToolContext, latest_order_at: datetime) -> list[Alert]:
    """Categories and products with a spike of return orders in the last complete week."""
    week_start, week_end = last_complete_week(latest_order_at)
    start = datetime.combine(week_start, datetime.min.time(), timezone.utc)
    with ctx.db.cursor() as cur:
        cur.execute(query("alerts.returns_by_item"), {"start": start, "end": start + timedelta(days=7),
                                                      "baseline_weeks": RETURN_BASELINE_WEEKS})
        rows = cur.fetchall()
    spikes = []
    for r in rows:
        usual = r["baseline_returns"] / RETURN_BASELINE_WEEKS
        # Never returned before counts as one return over the baseline: a ratio, not a division by zero.
        ratio = r["week_returns"] / max(usual, 1 / RETURN_BASELINE_WEEKS)
        if r["week_returns"] >= RETURN_MIN_ORDERS and ratio >= RETURN_SPIKE_RATIO:
            spikes.append((ratio, r, usual))
    spikes.sort(key=lambda s: (-s[0], s[1]["item_kind"], s[1]["item"]))
    # A product whose whole category spiked is told in the category's alert (the one it drives most),
    # not in one of its own: one event, one of the channel's few alerts a day.
    spiked_categories = {r["item"] for _, r, _ in spikes if r["item_kind"] == "category"}
    leading: dict[str, dict] = {}
    for _, r, _ in spikes:
        if r["item_kind"] == "product" and r["category"] in spiked_categories:
            if r["week_returns"] > leading.get(r["category"], {}).get("week_returns", 0):
                leading[r["category"]] = r
    spikes = [s for s in spikes if not (s[1]["item_kind"] == "product" and s[1]["category"] in spiked_categories)]
    alerts = []
    for ratio, r, usual in spikes[:RETURN_SPIKES_PER_WEEK]:
        led = leading.get(r["item"]) if r["item_kind"] == "category" else None
        reason = (f"Returns of the {r['item_kind']} {r['label']} spiked: {r['week_returns']} return orders in the "
                  f"week {week_start} to {week_end} against {usual:.1f} a week over the {RETURN_BASELINE_WEEKS} "
                  f"weeks before ({ratio:.1f}×)"
                  + (f", led by {led['label']} ({led['week_returns']})." if led else "."))
        alerts.append(Alert(kind="return_spike", subject=f"{r['item_kind']}:{r['item']}", period=_iso_week(week_end),
                            reason=reason, more={"tool": "store_metrics", "arguments": {
                                "period": f"{week_start}..{week_end}", "breakdown": r["item_kind"],
                                "compare": "previous_period"}}))
    return alerts


def _ago(seconds: float) -> str:
    hours = seconds / 3600
    return f"{hours:.0f} hours" if hours < 48 else f"{hours / 24:.0f} days"


def discovery_and_freshness(ctx: ToolContext, health: dict, now: datetime) -> list[Alert]:
    """A discovery run that failed after the current one, a current run older than the setting, and
    orders older than the setting (the import or the sync has stopped)."""
    settings, alerts = ctx.settings, []
    if health["latest_status"] == "failed" and health["latest_run_id"] != health["current_run_id"]:
        still = (f"; answers still read run {health['current_run_id']}" if health["current_run_id"]
                 else "; there is no published run to answer from")
        alerts.append(Alert(
            kind="discovery_failed", subject="discovery", period=f"run-{health['latest_run_id']}",
            reason=(f"Discovery run {health['latest_run_id']} failed (started "
                    f"{health['latest_started_at']:%Y-%m-%d %H:%M} UTC){still}: the server log has the error, "
                    "`python app.py discover` retries it.")))
    finished = health["current_finished_at"]
    if finished is not None and (now - finished).total_seconds() > settings.alert_stale_run_hours * 3600:
        alerts.append(Alert(
            kind="discovery_stale", subject="discovery", period=f"run-{health['current_run_id']}",
            reason=(f"The current discovery run {health['current_run_id']} finished "
                    f"{_ago((now - finished).total_seconds())} ago ({finished:%Y-%m-%d %H:%M} UTC), more than "
                    f"{settings.alert_stale_run_hours} hours: newer orders are not in the answers; is the scheduler "
                    "running?")))
    latest = health["latest_order_at"]
    if latest is not None and now - latest > timedelta(days=settings.alert_stale_data_days):
        alerts.append(Alert(
            kind="data_stale", subject="orders", period=latest.astimezone(timezone.utc).date().isoformat(),
            reason=(f"No order newer than {latest:%Y-%m-%d %H:%M} UTC ({_ago((now - latest).total_seconds())} ago, "
                    f"more than {settings.alert_stale_data_days} days): the import or the sync may have stopped.")))
    return alerts


def find_alerts(ctx: ToolContext, now: datetime) -> list[Alert]:
    """Every alert the data shows now, the store-wide ones first (a channel's daily cap goes to the
    oldest alerts, and within one check to this order). One detector failing is logged and never
    hides the others."""
    with ctx.db.cursor() as cur:
        cur.execute(query("alerts.health"))
        health = dict(cur.fetchone())
    latest = health["latest_order_at"]
    detectors: list[tuple[str, Callable[[], list[Alert]]]] = [
        ("discovery and freshness", lambda: discovery_and_freshness(ctx, health, now))]
    if latest is not None:
        detectors.append(("revenue against the forecast", lambda: revenue_outside_forecast(ctx, latest)))
    detectors.append(("customers turning at risk", lambda: customers_turning_at_risk(ctx)))
    if latest is not None:
        detectors.append(("return spikes", lambda: return_spikes(ctx, latest)))
    alerts: list[Alert] = []
    for name, detect in detectors:
        try:
            alerts.extend(detect())
        except Exception:  # noqa: BLE001 - logged with its name; the other detectors still run
            log.exception("alert detector %r failed", name)
    return alerts
