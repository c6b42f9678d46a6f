"""The `forecast_metrics` tool: revenue, orders, active customers or average order value over the next
N days/weeks/months, with an 80 % interval, compact history + forecast series for a chart, the model's
own backtest error, and the buy-till-you-die expectation of repeat purchases from the current run.

The model is discovery.forecast.SeasonalTrendForecaster. Revenue and orders are modelled per day (so
the weekday pattern carries into daily and monthly totals); active customers and average order value
are modelled per week, because neither adds up over days. The forecast uses whichever of CANDIDATES
(the seasonal-trend model, last year × growth, Holt-Winters, the recent mean) did best in a
rolling-origin backtest on the store's own history, and the summary says which, with every
candidate's error and interval coverage.
"""
from __future__ import annotations

from typing import Literal
import math
from datetime import date, timezone

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from discovery.forecast import SeasonalTrendForecaster, weekly_totals
from discovery.holt_winters import SEASONAL_MIN_WEEKS
from analytics.core import ToolContext, ToolError, ToolInput, ToolResult, current_run
from analytics.tools.registry import MenuEntry, tool
from sql import query

class ForecastMetricsInput(ToolInput):
    """Forecast of a store metric with an 80% interval and the model's own backtest error."""

    metric: Literal["revenue", "orders", "active_customers", "average_order_value"] = "revenue"
    horizon: int = Field(90, ge=1, le=730, description="How far ahead, in `unit`s.")
    unit: Literal["days", "weeks", "months"] = Field("days", description="Unit of the horizon.")


INTERVAL = 0.8
MAX_FORECAST_POINTS = 20   # Slack charts show at most 20 categories
CHART_POINTS = 26          # history + forecast together
MIN_HISTORY_POINTS = 6
BACKTEST_WEEKS = 13
MIN_BACKTEST_WEEKS = 4
MAX_HORIZON_DAYS = 731     # two years: the input allows 730 of any unit, but 730 months is not a forecast
SUMMED = {"revenue", "orders"}               # totals add up over days
LABELS = {"revenue": "Revenue", "orders": "Orders", "active_customers": "Active customers",
          "average_order_value": "Average order value"}

DESCRIPTION = (
    "Forecast of revenue, orders, active customers or average order value over the next N days, weeks or "
    "months, with an 80% interval, history and forecast points for a chart, the model's backtest error "
    "against a naive baseline, and the expected repeat purchases of existing customers (BG/NBD)."
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class HistoryPoint(_Model):
    label: str
    start: date
    end: date          # last day, inclusive
    value: float


class ForecastPoint(_Model):
    label: str
    start: date
    end: date
    value: float
    lower: float
    upper: float


class BacktestSummary(_Model):
    holdout_weeks: int
    origins: int = 1                 # rolling origins averaged (each holds out `holdout_weeks`)
    chosen: str = ""                 # the candidate with the lowest weighted error
    candidates: dict[str, float] = {}  # candidate → mean weighted error over the origins
    candidate_coverage: dict[str, float] = {}  # candidate → share of held-out weeks inside its 80 % interval
    model_wmape: float
    baseline_wmape: float
    model_mape: float
    baseline_mape: float
    interval_coverage: float
    baseline: str


class RepeatPurchases(_Model):
    run_id: int
    as_of: date
    customers: int
    expected_repeat_purchases: float
    note: str


class ForecastMetricsResult(ToolResult):
    metric: str
    horizon: int
    unit: str
    start: date
    end: date
    total: float
    lower: float
    upper: float
    interval: float
    total_means: str
    bucket: str
    history: list[HistoryPoint]
    forecast: list[ForecastPoint]
    model: str
    method: str
    fallback_reason: str | None = None
    backtest: BacktestSummary | None = None
    backtest_note: str | None = None
    repeat_purchases: RepeatPurchases | None = None


# --- loading the history ----------------------------------------------------------------------------

def _fetch(ctx: ToolContext, name: str, params: dict | None = None) -> list[dict]:
    with ctx.db.cursor() as cur:
        cur.execute(query("products.tuning"))  # transaction-local: no JIT for these one-pass scans
        cur.execute(query(name), params or {})
        return [dict(row) for row in cur.fetchall()]


def daily_history(ctx: ToolContext, last_day: date) -> pd.DataFrame:
    """Net revenue and sale orders per UTC day, every day from the first order to `last_day`."""
    rows = _fetch(ctx, "forecast.daily")
    frame = pd.DataFrame(rows, columns=["day", "revenue", "orders"]).astype({"revenue": float, "orders": float})
    frame.index = pd.DatetimeIndex(pd.to_datetime(frame.pop("day")))
    days = pd.date_range(frame.index.min(), pd.Timestamp(last_day), freq="D")
    return frame.reindex(days, fill_value=0.0)


def _weekly_active(ctx: ToolContext, last_day: date, first_day: pd.Timestamp) -> pd.Series:
    rows = _fetch(ctx, "forecast.weekly_active", {"last_day": last_day})
    n_weeks = ((pd.Timestamp(last_day) - first_day).days + 1) // 7  # complete blocks only
    counts = np.zeros(n_weeks)
    for row in rows:  # at most one row per week: a short loop over weeks, not customers
        back = int(row["weeks_back"])
        if back < n_weeks:
            counts[n_weeks - 1 - back] = row["customers"]
    ends = [pd.Timestamp(last_day) - pd.Timedelta(days=7 * back) for back in range(n_weeks - 1, -1, -1)]
    return pd.Series(counts, index=pd.DatetimeIndex(ends))


def _series_for(ctx: ToolContext, metric: str, daily: pd.DataFrame, last_day: date) -> pd.Series:
    if metric in SUMMED:
        return daily[metric]
    if metric == "active_customers":
        return _weekly_active(ctx, last_day, daily.index[0])
    revenue, orders = weekly_totals(daily["revenue"]), weekly_totals(daily["orders"])
    # Weeks without orders have no average: 0 marks them as closures the model leaves out.
    return (revenue / orders.where(orders > 0)).fillna(0.0)


# --- buckets ----------------------------------------------------------------------------------------

def _step(unit: str, k: int) -> pd.DateOffset | pd.Timedelta:
    if unit == "days":
        return pd.Timedelta(days=k)
    if unit == "weeks":
        return pd.Timedelta(days=7 * k)
    return pd.DateOffset(months=k)


def _forward_buckets(first: pd.Timestamp, end: pd.Timestamp, unit: str) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """[start, stop) buckets of `unit` from `first` until `end` (the last one clipped to `end`)."""
    buckets, k = [], 0
    while first + _step(unit, k) < end:
        buckets.append((first + _step(unit, k), min(first + _step(unit, k + 1), end)))
        k += 1
    return buckets


def _backward_buckets(stop: pd.Timestamp, unit: str, count: int, earliest: pd.Timestamp):
    """Up to `count` complete buckets ending at `stop` (exclusive), oldest first, none before `earliest`."""
    buckets = []
    for k in range(1, count + 1):
        start = stop - _step(unit, k)
        if start < earliest:
            break
        buckets.append((start, stop - _step(unit, k - 1)))
    return buckets[::-1]


def _label(start: pd.Timestamp, stop: pd.Timestamp, unit: str) -> str:
    if unit == "days":
        return start.strftime("%Y-%m-%d")
    # Months run from the day after the latest order, not from the 1st: the label says where they start.
    return start.strftime("%d %b") if unit == "weeks" else start.strftime("%d %b %Y")


def _bucket_unit(unit: str, horizon_days: int, metric: str) -> str:
    """The requested unit, coarsened until the forecast fits a chart; weekly metrics never go below weeks."""
    chosen = "weeks" if unit == "days" and metric not in SUMMED else unit
    approx_days = {"days": 1, "weeks": 7, "months": 30.44}
    while chosen != "months" and math.ceil(horizon_days / approx_days[chosen]) > MAX_FORECAST_POINTS:
        chosen = "weeks" if chosen == "days" else "months"
    return chosen


def _aggregate(days_matrix: np.ndarray, first: pd.Timestamp, buckets, summed: bool) -> np.ndarray:
    """Per bucket sum (or mean) over the day columns of a (…, days) matrix starting on `first`."""
    starts = [(start - first).days for start, _ in buckets]
    stops = [(stop - first).days for _, stop in buckets]
    sums = np.add.reduceat(days_matrix, starts, axis=-1)
    if summed:
        return sums
    return sums / (np.array(stops) - np.array(starts))


# --- the model --------------------------------------------------------------------------------------

def _day_paths(model: SeasonalTrendForecaster, horizon_days: int) -> tuple[np.ndarray, np.ndarray]:
    """(point, paths) per future day: daily amounts for daily models, each day carrying its week's value
    for weekly ones."""
    if model.frequency_ == "D":
        return model.point(horizon_days), model.simulate(horizon_days)
    weeks = math.ceil(horizon_days / 7)
    point = np.repeat(model.point(weeks), 7)[:horizon_days]
    paths = np.repeat(model.simulate(weeks), 7, axis=1)[:, :horizon_days]
    return point, paths


# The models a forecast chooses between, by their rolling-origin backtest (lowest weighted error wins).
CANDIDATES = {"auto": "seasonal-trend model", "seasonal_naive": "same week last year × recent growth",
              "holt_winters": "Holt-Winters (damped trend)", "recent_mean": "mean of the last 4 weeks"}

# With a year of history the backtest of the coming season (last year's same weeks) counts this much;
# the latest weeks the rest: a September forecast should be judged on last year's October to December
# (on the synthetic store the summer weeks alone picked the recent mean, which misses the peak).
SEASONAL_WEIGHT = 0.75


def _takes_part(name: str, history_weeks: int) -> bool:
    """Holt-Winters competes only where it has its yearly season: without it, it follows the recent
    level as the recent mean does, and two such candidates judged on one or two 13-week windows
    mostly add chance to the choice (in the first bench run its non-seasonal form won twice, on
    Online Retail II in September and CDNOW in December, and forecast worse both times)."""
    return name != "holt_winters" or history_weeks >= SEASONAL_MIN_WEEKS


def _origins(n_weeks: int, holdout: int, min_history: int) -> list[int]:
    """How many weeks before the end each backtest ends: the latest weeks, and — once a year of
    history exists — the weeks a year before the ones about to be forecast (the coming season as it
    went last year: a September forecast is judged on last October-December, not on the summer);
    otherwise the `holdout` weeks before the latest ones."""
    origins = [0]
    seasonal = 52 - holdout
    if n_weeks - seasonal - holdout >= min_history:
        origins.append(seasonal)
    elif n_weeks - 2 * holdout >= min_history + MIN_BACKTEST_WEEKS:
        origins.append(holdout)
    return origins


def _backtest(series: pd.Series, model: SeasonalTrendForecaster) -> tuple[BacktestSummary | None, str | None]:
    """Each candidate refitted at every origin's cut-off and scored on the weeks after it (no future
    data); candidates that cannot fit at every origin (last year × growth without a year and a bit of
    history) drop out."""
    n_weeks = model.n_weeks_
    holdout = min(BACKTEST_WEEKS, n_weeks - model.min_history_weeks)
    if holdout < MIN_BACKTEST_WEEKS:
        return None, (f"No backtest: {n_weeks} weeks of history leave too little to hold out "
                      f"(needs {model.min_history_weeks + MIN_BACKTEST_WEEKS}).")
    per_step = 7 if model.frequency_ == "D" else 1
    offsets = _origins(n_weeks, holdout, model.min_history_weeks)
    origins = len(offsets)
    reports: dict[str, list] = {name: [] for name in CANDIDATES}
    for weeks_back in offsets:
        cut = series.iloc[: len(series) - weeks_back * per_step] if weeks_back else series
        for name in CANDIDATES:
            if not _takes_part(name, n_weeks - weeks_back - holdout):
                continue
            try:
                reports[name].append(SeasonalTrendForecaster(**{**model.get_params(), "structure": name})
                                     .backtest(cut, holdout_weeks=holdout))
            except ValueError:
                pass
    complete = {name: r for name, r in reports.items() if len(r) == origins}
    # The season ahead as it went last year weighs SEASONAL_WEIGHT; the latest weeks the rest.
    weights = np.array([1.0 - SEASONAL_WEIGHT, SEASONAL_WEIGHT] if offsets[1:] == [52 - holdout]
                       else [1.0 / origins] * origins)
    errors = {name: float(np.dot(weights, [r.model_wmape for r in r_list])) for name, r_list in complete.items()}
    chosen = min(errors, key=errors.get)
    best, naive = complete[chosen], complete["recent_mean"]
    summary = BacktestSummary(
        holdout_weeks=holdout, origins=origins, chosen=chosen,
        candidates={CANDIDATES[name]: round(err, 4) for name, err in errors.items()},
        candidate_coverage={CANDIDATES[name]: round(float(np.dot(weights, [r.coverage for r in complete[name]])), 4)
                            for name in errors},
        model_wmape=round(errors[chosen], 4), baseline_wmape=round(errors["recent_mean"], 4),
        model_mape=round(float(np.dot(weights, [r.model_mape for r in best])), 4),
        baseline_mape=round(float(np.dot(weights, [r.model_mape for r in naive])), 4),
        interval_coverage=round(float(np.dot(weights, [r.coverage for r in best])), 4),
        baseline=CANDIDATES["recent_mean"])
    return summary, None


def fit_forecaster(series: pd.Series) -> tuple[SeasonalTrendForecaster, BacktestSummary | None, str | None]:
    """The forecaster for a series as this tool fits it (also what alerts judge a week against)."""
    model = SeasonalTrendForecaster(interval=INTERVAL).fit(series)
    backtest, backtest_note = _backtest(series, model)
    if backtest is not None and backtest.chosen != "auto":
        # The store's own track record decides: the candidate that forecast the held-out weeks best
        # (a store without a season: the recent mean; a clear yearly pattern: last year × growth).
        model = SeasonalTrendForecaster(structure=backtest.chosen, interval=INTERVAL).fit(series)
    return model, backtest, backtest_note


@tool("forecast_metrics", DESCRIPTION,
      title="Forecast", card="forecast",
      menu=(MenuEntry("revenue forecast for the next 90 days", {"metric": "revenue", "horizon": 90, "unit": "days"}),))
def forecast_metrics(ctx: ToolContext, params: ForecastMetricsInput) -> ForecastMetricsResult:
    version = _fetch(ctx, "products.data_version")[0]
    if version["latest_order_at"] is None:
        raise ToolError("There are no orders yet to forecast from: import some with `python app.py ingest FILE`.")
    run = current_run(ctx)
    if ctx.cache is None:
        return _compute(ctx, params, version, run)
    key = (f"forecast_metrics:{version['last_order_id']}:{version['latest_order_at']}:"
           f"{run.run_id if run else None}:{params.model_dump_json()}")
    return ctx.cache.get_or_compute(key, None, lambda: _compute(ctx, params, version, run),
                                    model=ForecastMetricsResult)


def _compute(ctx: ToolContext, params: ForecastMetricsInput, version: dict, run) -> ForecastMetricsResult:
    last_day = version["latest_order_at"].astimezone(timezone.utc).date()
    daily = daily_history(ctx, last_day)
    if len(daily) < 7:
        raise ToolError(f"Not enough order history to forecast: {len(daily)} day(s) of orders, at least 7 needed.")
    first = pd.Timestamp(last_day) + pd.Timedelta(days=1)
    end = first + _step(params.unit, params.horizon)
    horizon_days = (end - first).days
    if horizon_days > MAX_HORIZON_DAYS:
        raise ToolError(f"{params.horizon} {params.unit} is too far ahead: forecasts reach at most two years "
                        "(730 days, 104 weeks or 24 months).")
    metric = params.metric
    series = _series_for(ctx, metric, daily, last_day)
    model, backtest, backtest_note = fit_forecaster(series)
    if backtest is not None:
        others = ", ".join(f"{name} {err:.0%}" for name, err in backtest.candidates.items()
                           if name != CANDIDATES[backtest.chosen])
        backtest_note = (f"Chosen by backtest ({backtest.holdout_weeks} weeks held out at {backtest.origins} "
                         f"origin{'s' if backtest.origins > 1 else ''}): "
                         f"{CANDIDATES[backtest.chosen]} {backtest.model_wmape:.0%} weighted error"
                         + (f" vs {others}" if others else "") + f"; its 80% interval held "
                         f"{backtest.interval_coverage:.0%} of the held-out weeks.")

    point, paths = _day_paths(model, horizon_days)
    summed = metric in SUMMED

    # The whole horizon: sums for revenue/orders, the average for order value, and for active
    # customers the weekly level scaled to distinct buyers over the window (repeat buyers count once).
    if summed:
        total, total_paths = point.sum(), paths.sum(axis=1)
        total_means = f"total {metric} over the horizon"
    elif metric == "average_order_value":
        total, total_paths = point.mean(), paths.mean(axis=1)
        total_means = "average order value over the horizon"
    else:
        dedupe = _distinct_ratio(ctx, series, last_day, horizon_days)
        weeks = horizon_days / 7
        total, total_paths = point.mean() * weeks * dedupe, paths.mean(axis=1) * weeks * dedupe
        total_means = ("distinct customers buying over the horizon (weekly actives × weeks × "
                       f"{dedupe:.2f}, the share of weekly buyers who are distinct over such a window)")
    tail = (1 - INTERVAL) / 2
    lower, upper = np.quantile(total_paths, [tail, 1 - tail])

    bucket = _bucket_unit(params.unit, horizon_days, metric)
    ahead = _forward_buckets(first, end, bucket)
    values = _aggregate(point, first, ahead, summed)
    low_b, high_b = np.quantile(_aggregate(paths, first, ahead, summed), [tail, 1 - tail], axis=0)
    forecast = [ForecastPoint(label=_label(s, e, bucket), start=s.date(), end=(e - pd.Timedelta(days=1)).date(),
                              value=round(float(v), 2), lower=round(float(min(lo, v)), 2),
                              upper=round(float(max(hi, v)), 2))
                for (s, e), v, lo, hi in zip(ahead, values, low_b, high_b)]
    history = _history_points(series, model, first, bucket, len(forecast), summed)

    repeat = _repeat_purchases(ctx, run, horizon_days)
    result = ForecastMetricsResult(
        tool="forecast_metrics", summary="", metric=metric, horizon=params.horizon, unit=params.unit,
        start=first.date(), end=(end - pd.Timedelta(days=1)).date(), total=round(float(total), 2),
        lower=round(float(min(lower, total)), 2), upper=round(float(max(upper, total)), 2), interval=INTERVAL,
        total_means=total_means, bucket=bucket, history=history, forecast=forecast, model=model.describe(),
        method=model.method_, fallback_reason=model.fallback_reason_, backtest=backtest,
        backtest_note=backtest_note, repeat_purchases=repeat,
    )
    result.summary = _summary(result)
    return result


def _history_points(series: pd.Series, model: SeasonalTrendForecaster, first: pd.Timestamp, bucket: str,
                    n_forecast: int, summed: bool) -> list[HistoryPoint]:
    """Complete past buckets of the same unit as the forecast, as many as fit the chart."""
    if model.frequency_ == "D":
        days = series.astype(float)
    else:  # each day carries its week's value, so buckets average the weekly level
        days = pd.Series(np.repeat(series.to_numpy(float), 7),
                         index=pd.date_range(series.index[0] - pd.Timedelta(days=6), series.index[-1], freq="D"))
    wanted = max(CHART_POINTS - n_forecast, MIN_HISTORY_POINTS)
    buckets = _backward_buckets(first, bucket, wanted, days.index[0])
    if not buckets:
        return []
    start = buckets[0][0]
    values = _aggregate(days.loc[start:].to_numpy(), start, buckets, summed)
    return [HistoryPoint(label=_label(s, e, bucket), start=s.date(), end=(e - pd.Timedelta(days=1)).date(),
                         value=round(float(v), 2)) for (s, e), v in zip(buckets, values)]


def _distinct_ratio(ctx: ToolContext, weekly_active: pd.Series, last_day: date, horizon_days: int) -> float:
    """Distinct buyers in the latest window as long as the horizon ÷ the sum of its weekly buyer counts."""
    weeks = max(1, min(math.ceil(horizon_days / 7), len(weekly_active)))
    weekly_sum = float(weekly_active.iloc[-weeks:].sum())
    if weekly_sum <= 0:
        return 1.0
    distinct = _fetch(ctx, "forecast.distinct_customers", {"last_day": last_day, "days": 7 * weeks})[0]["customers"]
    return min(1.0, distinct / weekly_sum)


def _repeat_purchases(ctx: ToolContext, run, horizon_days: int) -> RepeatPurchases | None:
    if run is None:
        return None
    row = _fetch(ctx, "forecast.expected_repeat_purchases", {"run_id": run.run_id})[0]
    if not row["customers"]:
        return None
    expected = float(row["expected_purchases_90d"]) * horizon_days / 90
    return RepeatPurchases(
        run_id=run.run_id, as_of=run.as_of.date(), customers=int(row["customers"]),
        expected_repeat_purchases=round(expected, 1),
        note=("Sum of each known customer's expected purchases in 90 days (BG/NBD, discovery run as of "
              f"{run.as_of.date().isoformat()}), scaled linearly to {horizon_days} days; new customers are "
              "not included."))


def _fmt(metric: str, value: float) -> str:
    if metric in ("orders", "active_customers"):
        return f"{value:,.0f}"
    return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"


def _summary(r: ForecastMetricsResult) -> str:
    what = {"revenue": "Revenue", "orders": "Orders", "active_customers": "Distinct buying customers",
            "average_order_value": "Average order value"}[r.metric]
    unit = r.unit[:-1] if r.horizon == 1 else r.unit
    text = (f"{what} over the next {r.horizon} {unit} ({r.start.isoformat()} to {r.end.isoformat()}): about "
            f"{_fmt(r.metric, r.total)} (80% interval {_fmt(r.metric, r.lower)}–{_fmt(r.metric, r.upper)}). ")
    text += r.model
    if r.backtest is not None and r.backtest_note:
        text += " " + r.backtest_note
    elif r.backtest is not None:
        b = r.backtest
        text += (f" Backtest on the last {b.holdout_weeks} weeks: weighted error {b.model_wmape:.0%} vs "
                 f"{b.baseline_wmape:.0%} for the {b.baseline}.")
    elif r.backtest_note:
        text += " " + r.backtest_note
    if r.repeat_purchases is not None and r.metric in ("orders", "active_customers", "revenue"):
        text += (f" Existing customers are expected to make about {r.repeat_purchases.expected_repeat_purchases:,.0f} "
                 "repeat purchases in that time (BG/NBD).")
    return text
