"""The forecasting model — backtest on the Online Retail II year against a naive baseline, recovery
of a planted trend and seasonality, the short-history fallback, the estimator conventions — and the
forecast_metrics tool end to end on a real database: a generated store loaded with COPY, its history
and forecast checked against the same series built independently with pandas."""
from __future__ import annotations

import json
import math
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pytest

from analytics.cache import Cache
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool
from discovery.forecast import SeasonalTrendForecaster, weekly_totals
from sql.database import Database

HOLDOUT_WEEKS = 13


@pytest.fixture(scope="module")
def online_retail_weekly(shared_data) -> pd.Series:
    """Weekly revenue of sales net of cancellations, built with pandas straight from the parquet:
    'C' invoices (cancellations, negative quantities) are netted in; 'A' invoices (bad-debt
    adjustments) are not sales. Weeks are 7-day blocks ending on the last day of data."""
    frame = pd.read_parquet(shared_data / "online_retail_ii/online_retail_II_2009_2010.parquet",
                            columns=["Invoice", "Quantity", "Price", "InvoiceDate"])
    frame = frame[~frame["Invoice"].str.startswith("A")]
    day = pd.to_datetime(frame["InvoiceDate"]).dt.normalize()
    amount = frame["Quantity"].astype(float) * frame["Price"]
    daily = amount.groupby(day).sum()
    daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max(), freq="D"), fill_value=0.0)
    n_weeks = len(daily) // 7
    blocks = daily.to_numpy()[len(daily) - 7 * n_weeks:].reshape(n_weeks, 7).sum(axis=1)
    return pd.Series(blocks, index=daily.index[len(daily) - 7 * n_weeks + 6::7])


def _wmape(actual, forecast):
    return np.abs(actual - forecast).sum() / np.abs(actual).sum()


def test_backtest_on_online_retail_beats_last_four_weeks_mean(online_retail_weekly):
    weekly = online_retail_weekly
    assert len(weekly) == 53  # 2009-12-01 .. 2010-12-09
    train, actual = weekly.iloc[:-HOLDOUT_WEEKS], weekly.to_numpy()[-HOLDOUT_WEEKS:]

    model = SeasonalTrendForecaster().fit(train)
    forecast = model.predict(HOLDOUT_WEEKS)
    assert list(forecast.index) == list(weekly.index[-HOLDOUT_WEEKS:])
    model_error = _wmape(actual, forecast["forecast"].to_numpy())
    baseline_error = _wmape(actual, np.full(HOLDOUT_WEEKS, train.iloc[-4:].mean()))
    inside = ((actual >= forecast["lower"]) & (actual <= forecast["upper"])).mean()
    print(f"\nOnline Retail II, weekly revenue, last {HOLDOUT_WEEKS} weeks held out: "
          f"model WMAPE {model_error:.3f} vs last-4-weeks-mean baseline WMAPE {baseline_error:.3f}; "
          f"80% interval covered {inside:.0%} of held-out weeks; model: {model.describe()}")
    assert model_error < baseline_error
    assert model.method_ == "log_regression_ar1" and "yearly" in model.components_

    # The model's own backtest method reaches the same figures.
    report = SeasonalTrendForecaster().backtest(weekly, holdout_weeks=HOLDOUT_WEEKS)
    assert report.model_wmape == pytest.approx(model_error)
    assert report.baseline_wmape == pytest.approx(baseline_error)
    assert report.model_wmape < report.baseline_wmape


def test_daily_and_weekly_inputs_agree_on_weekly_totals(shared_data, online_retail_weekly):
    frame = pd.read_parquet(shared_data / "online_retail_ii/online_retail_II_2009_2010.parquet",
                            columns=["Invoice", "Quantity", "Price", "InvoiceDate"])
    frame = frame[~frame["Invoice"].str.startswith("A")]
    daily = (frame["Quantity"].astype(float) * frame["Price"]).groupby(
        pd.to_datetime(frame["InvoiceDate"]).dt.normalize()).sum()
    pd.testing.assert_series_equal(weekly_totals(daily), online_retail_weekly, check_names=False,
                                   check_freq=False)
    model = SeasonalTrendForecaster().fit(daily)
    assert model.frequency_ == "D" and "weekly" in model.components_
    # The shop never trades on Saturdays: the learned weekday profile says so.
    assert model.weekday_shares_[5] == 0.0
    days = model.predict(14)
    assert (days.loc[days.index.day_of_week == 5, "forecast"] == 0).all()


def _planted_daily(weeks: int, growth_per_year: float, seed: int = 1) -> tuple[pd.Series, callable]:
    """A daily series with a known weekday profile, yearly wave and growth, plus log-normal noise."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-01-04", periods=7 * weeks, freq="D")
    profile = np.array([1.0, 1.1, 1.0, 1.2, 1.5, 0.8, 0.4])

    def truth(index: pd.DatetimeIndex) -> np.ndarray:
        years = (index - days[0]).days.to_numpy() / 365.25
        season = 1 + 0.35 * np.cos(2 * np.pi * (index.day_of_year.to_numpy() - 340) / 365.25)
        return 1000 * np.exp(growth_per_year * years) * season * profile[index.day_of_week]

    values = truth(days) * np.exp(rng.normal(0, 0.1, len(days)))
    return pd.Series(values, index=days), truth


def test_recovers_planted_trend_and_seasonality():
    series, truth = _planted_daily(weeks=156, growth_per_year=0.2)
    model = SeasonalTrendForecaster().fit(series)
    assert model.components_ == ("trend", "weekly", "yearly")
    assert model.coef_[1] == pytest.approx(0.2, abs=0.05)  # log growth per year
    horizon = 26 * 7
    future = model.predict(horizon)
    expected = truth(future.index)
    weekly_error = _wmape(expected.reshape(-1, 7).sum(1), future["forecast"].to_numpy().reshape(-1, 7).sum(1))
    assert weekly_error < 0.08
    assert (future["lower"] <= future["forecast"]).all() and (future["forecast"] <= future["upper"]).all()
    # The interval is calibrated on this noise: about 80 % of true weekly totals (+ noise) fall inside.
    paths = model.simulate(horizon).reshape(model.n_paths, -1, 7).sum(axis=2)
    low, high = np.quantile(paths, [0.1, 0.9], axis=0)
    rng = np.random.default_rng(7)
    noisy = (expected * np.exp(rng.normal(0, 0.1, horizon))).reshape(-1, 7).sum(1)
    assert 0.6 <= ((noisy >= low) & (noisy <= high)).mean() <= 1.0


def test_trend_bends_when_growth_stops():
    # Two years of +50 %/year (in logs), then a flat third year: a straight log-line through all
    # three years would keep growing; the changepoint a year before the end lets it level off.
    rng = np.random.default_rng(5)
    weeks = pd.date_range("2021-01-03", periods=156, freq="7D")
    years = np.arange(156) / 52.18
    level = 1000 * np.exp(0.5 * np.minimum(years, 2.0))
    series = pd.Series(level * np.exp(rng.normal(0, 0.05, 156)), index=weeks)
    bent = SeasonalTrendForecaster().fit(series)
    straight = SeasonalTrendForecaster(changepoint_weeks=0).fit(series)
    assert "trend free to bend 52 weeks before the end" in bent.notes_
    truth = np.full(26, level[-1])
    bent_error = _wmape(truth, bent.predict(26)["forecast"].to_numpy())
    straight_error = _wmape(truth, straight.predict(26)["forecast"].to_numpy())
    assert bent_error < 0.1 and bent_error < straight_error / 2


def test_short_history_without_free_trend_is_said():
    series, _ = _planted_daily(weeks=30, growth_per_year=0.0)
    model = SeasonalTrendForecaster().fit(series)
    assert model.components_ == ("trend (shrunk)", "weekly")
    assert any("yearly seasonality not estimated: 30 weeks" in note for note in model.notes_)
    assert "yearly" not in model.describe() or "not estimated" in model.describe()


def test_six_weeks_falls_back_and_says_why(online_retail_weekly):
    six = online_retail_weekly.iloc[14:20]
    model = SeasonalTrendForecaster().fit(six)
    assert model.method_ == "recent_mean"
    assert "only 6 week(s) of history" in model.fallback_reason_
    assert "at least 12" in model.fallback_reason_
    assert model.describe().startswith("Fallback forecast: only 6 week(s)")
    frame = model.predict(4)
    assert frame["forecast"].to_numpy() == pytest.approx(np.full(4, six.iloc[-4:].mean()))
    assert (frame["lower"] < frame["forecast"]).all() and (frame["upper"] > frame["forecast"]).all()


def test_estimator_conventions_and_bad_input():
    params = SeasonalTrendForecaster(interval=0.9).get_params()
    model = SeasonalTrendForecaster(interval=0.9)
    with pytest.raises(RuntimeError, match="fit"):
        model.predict(3)
    series, _ = _planted_daily(weeks=20, growth_per_year=0.0)
    assert model.fit(series) is model
    assert model.get_params() == params  # fit does not touch hyper-parameters
    first = model.predict(10)
    pd.testing.assert_frame_equal(first, model.predict(10))  # predict never refits; paths are seeded
    with pytest.raises(ValueError, match="daily or weekly"):
        SeasonalTrendForecaster().fit(pd.Series([1.0, 2.0, 3.0], index=pd.to_datetime(
            ["2020-01-01", "2020-02-01", "2020-03-01"])))
    with pytest.raises(ValueError, match="no history"):
        SeasonalTrendForecaster().fit(pd.Series([], dtype=float))
    with pytest.raises(ValueError, match="horizon"):
        model.predict(0)
    with pytest.raises(ValueError, match="structure"):
        SeasonalTrendForecaster(structure="prophet").fit(series)


def test_structures_can_be_chosen(online_retail_weekly):
    train = online_retail_weekly.iloc[:-HOLDOUT_WEEKS]
    no_yearly = SeasonalTrendForecaster(structure="no_yearly").fit(train)
    assert no_yearly.components_ == ("trend (shrunk)",) and "yearly seasonality left out" in no_yearly.notes_
    recent = SeasonalTrendForecaster(structure="recent_mean").fit(train)
    assert recent.method_ == "recent_mean" and recent.fallback_reason_ is None
    assert recent.predict(2)["forecast"].to_numpy() == pytest.approx(np.full(2, train.iloc[-4:].mean()))
    assert recent.describe() == "Mean of the last 4 weeks carried forward."


# --- the forecast_metrics tool on a database ------------------------------------------------------

START = datetime(2022, 1, 3, 10, 0, tzinfo=timezone.utc)  # a Monday


def _generate(weeks: int, seed: int = 3, season: float = 0.0) -> pd.DataFrame:
    """Orders of a small store: weekday pattern, growth, 200 customers, a few returns and one
    bookkeeping adjustment that must never count; with `season`, a yearly wave peaking in December."""
    rng = np.random.default_rng(seed)
    days = pd.date_range(START, periods=7 * weeks, freq="D")
    weekday = np.array([1.0, 1.1, 1.0, 1.2, 1.4, 0.7, 0.5])[days.day_of_week]
    yearly = 1 + season * np.cos(2 * np.pi * (days.day_of_year.to_numpy() - 350) / 365.25)
    per_day = rng.poisson(6 * weekday * yearly * np.exp(0.3 * np.arange(len(days)) / 365))
    at = np.repeat(days, per_day) + pd.to_timedelta(rng.integers(0, 8 * 3600, per_day.sum()), unit="s")
    frame = pd.DataFrame({"ordered_at": at, "customer": rng.integers(1, 201, len(at)),
                          "total": np.round(rng.lognormal(3.5, 0.5, len(at)), 2), "kind": "sale"})
    returns = frame.sample(frac=0.03, random_state=seed).assign(
        kind="return", total=lambda f: -np.round(f["total"] * 0.5, 2),
        ordered_at=lambda f: f["ordered_at"] + pd.Timedelta(days=2))
    returns = returns[returns["ordered_at"] <= frame["ordered_at"].max()]
    adjustment = pd.DataFrame({"ordered_at": [frame["ordered_at"].iloc[len(frame) // 2]], "customer": [None],
                               "total": [-5000.0], "kind": ["adjustment"]})
    out = pd.concat([frame, returns, adjustment], ignore_index=True).sort_values("ordered_at", kind="stable")
    out["store_order_id"] = [f"G{i:06d}" for i in range(len(out))]
    return out.reset_index(drop=True)


def _load(db: Database, orders: pd.DataFrame, expected_90d: np.ndarray | None = None) -> None:
    with db.connection() as conn, conn.cursor() as cur:
        with cur.copy("COPY customers (store_customer_id) FROM STDIN") as copy:
            for number in range(1, 201):
                copy.write_row((f"K{number:03d}",))
        cur.execute("SELECT store_customer_id, customer_id FROM customers")
        ids = dict(cur.fetchall())
        with cur.copy("COPY orders (store_order_id, customer_id, ordered_at, kind, subtotal, total) FROM STDIN") as copy:
            for row in orders.itertuples(index=False):
                customer = None if pd.isna(row.customer) else ids[f"K{int(row.customer):03d}"]
                copy.write_row((row.store_order_id, customer, row.ordered_at.to_pydatetime(), row.kind,
                                row.total, row.total))
        if expected_90d is not None:
            cur.execute("INSERT INTO discovery_runs (status, is_current, as_of, finished_at) "
                        "VALUES ('published', true, %s, now()) RETURNING run_id", (orders["ordered_at"].max(),))
            run_id = cur.fetchone()[0]
            with cur.copy("COPY customer_profiles (run_id, customer_id, orders, revenue, expected_purchases_90d) "
                          "FROM STDIN") as copy:
                for number, expected in enumerate(expected_90d, start=1):
                    copy.write_row((run_id, ids[f"K{number:03d}"], 1, 0, float(expected)))


def _daily(orders: pd.DataFrame, column: str) -> pd.Series:
    """The daily series built independently: net revenue (sales + returns) or sale orders per UTC day."""
    counted = orders[orders["kind"].isin(["sale", "return"])]
    if column == "orders":
        counted = counted[counted["kind"] == "sale"].assign(total=1.0)
    day = counted["ordered_at"].dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    series = counted["total"].astype(float).groupby(day).sum()
    return series.reindex(pd.date_range(series.index.min(), series.index.max(), freq="D"), fill_value=0.0)


@pytest.fixture(scope="module")
def store(migrated_template):
    from tests.conftest import create_database, drop_database

    url = create_database(migrated_template)
    db = Database(url, migrate=False)
    orders = _generate(weeks=60)
    expected = np.random.default_rng(9).gamma(2.0, 0.4, 200)
    _load(db, orders, expected)
    yield db, orders, expected
    db.close()
    drop_database(url)


@pytest.fixture
def ctx(store, settings):
    return ToolContext(db=store[0], settings=settings, cache=Cache(None))


def _rolling_choice(daily: pd.Series, holdout: int = 13) -> tuple[str, dict[str, float]]:
    """The forecast's model choice recomputed here from the model class: each candidate backtested on
    the latest `holdout` weeks and, with a year of history, on the same weeks a year before the ones
    ahead (weighted 1/4 and 3/4), else on the `holdout` weeks before the latest (equal weights);
    lowest weighted error wins; a candidate that cannot fit at every origin drops out, and Holt-Winters
    takes part only where every origin leaves it 60 weeks (its yearly season)."""
    n_weeks = len(daily) // 7
    if n_weeks - (52 - holdout) - holdout >= 12:
        offsets, weights = [0, 52 - holdout], [0.25, 0.75]
    else:
        offsets, weights = [0, holdout], [0.5, 0.5]
    errors: dict[str, float] = {}
    for name in ("auto", "seasonal_naive", "holt_winters", "recent_mean"):
        if name == "holt_winters" and n_weeks - max(offsets) - holdout < 60:
            continue
        found = []
        for back in offsets:
            cut = daily.iloc[: len(daily) - 7 * back] if back else daily
            try:
                found.append(SeasonalTrendForecaster(structure=name, interval=0.8).backtest(cut, holdout_weeks=holdout)
                             .model_wmape)
            except ValueError:
                break
        if len(found) == len(offsets):
            errors[name] = float(np.dot(weights, found))
    return min(errors, key=errors.get), errors


def test_revenue_weeks_matches_independent_pipeline(ctx, store):
    _, orders, expected = store
    daily = _daily(orders, "revenue")
    last_day = daily.index[-1]
    result = run_tool(ctx, "forecast_metrics", {"metric": "revenue", "horizon": 12, "unit": "weeks"})

    assert result.start == (last_day + pd.Timedelta(days=1)).date()
    assert result.end == (last_day + pd.Timedelta(days=84)).date()
    # This store has growth and no season: the rolling backtest picks the candidate that forecast the
    # held-out weeks best, and the tool forecasts with it and says so.
    chosen, errors = _rolling_choice(daily)
    assert result.backtest.chosen == chosen and result.backtest.model_wmape == pytest.approx(errors[chosen], abs=1e-4)
    assert result.backtest.baseline_wmape == pytest.approx(errors["recent_mean"], abs=1e-4)
    assert "Chosen by backtest (13 weeks held out at 2 origins)" in result.summary
    independent = SeasonalTrendForecaster(structure=chosen, interval=0.8).fit(daily)
    assert result.method == independent.method_
    assert result.total == pytest.approx(independent.point(84).sum(), abs=0.01)
    assert result.lower < result.total < result.upper
    assert result.bucket == "weeks" and len(result.forecast) == 12
    assert sum(p.value for p in result.forecast) == pytest.approx(result.total, rel=1e-6)
    assert all(p.lower <= p.value <= p.upper for p in result.forecast)

    # History points are the last complete weeks, net of returns, without the adjustment.
    assert len(result.history) == 26 - 12
    for point in result.history:
        window = daily.loc[pd.Timestamp(point.start):pd.Timestamp(point.end)]
        assert len(window) == 7 and point.value == pytest.approx(window.sum(), abs=0.01)
    assert result.history[-1].end == last_day.date()

    assert result.backtest is not None and result.backtest.holdout_weeks == 13
    print(f"\ngenerated store, revenue backtest (2 × 13 weeks): {result.backtest.candidates}")

    assert result.repeat_purchases.customers == 200
    assert result.repeat_purchases.expected_repeat_purchases == pytest.approx(expected.sum() * 84 / 90, abs=0.1)
    assert "Revenue over the next 12 weeks" in result.summary


def test_seasonal_store_is_forecast_with_the_model(fresh_db, settings):
    orders = _generate(weeks=80, season=0.6)
    _load(fresh_db, orders)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=None)
    result = run_tool(ctx, "forecast_metrics", {"metric": "revenue", "horizon": 8, "unit": "weeks"})
    daily = _daily(orders, "revenue")
    chosen, errors = _rolling_choice(daily)
    # A season the last 4 weeks cannot know: a seasonal candidate beats the recent mean.
    assert chosen in ("auto", "seasonal_naive") and errors[chosen] < errors["recent_mean"]
    assert result.backtest.chosen == chosen and result.backtest.model_wmape == pytest.approx(errors[chosen], abs=1e-4)
    model = SeasonalTrendForecaster(structure=chosen, interval=0.8).fit(daily)
    assert result.method == model.method_
    assert result.total == pytest.approx(model.point(56).sum(), abs=0.01)
    print(f"\nseasonal generated store (80 weeks), revenue backtest: {result.backtest.candidates}")


def test_orders_over_90_days_are_bucketed_by_week(ctx, store):
    _, orders, _ = store
    daily = _daily(orders, "orders")
    result = run_tool(ctx, "forecast_metrics", {"metric": "orders", "horizon": 90, "unit": "days"})
    assert result.bucket == "weeks" and len(result.forecast) == math.ceil(90 / 7)
    assert (result.forecast[-1].end - result.forecast[-1].start).days == 90 - 12 * 7 - 1  # clipped last week
    report = SeasonalTrendForecaster().backtest(daily, holdout_weeks=13)
    structure = "auto" if report.model_wmape <= report.baseline_wmape else "recent_mean"
    assert result.method == ("log_regression_ar1" if structure == "auto" else "recent_mean")
    assert result.total == pytest.approx(SeasonalTrendForecaster(structure=structure).fit(daily).point(90).sum(),
                                         abs=0.01)
    assert sum(p.value for p in result.forecast) == pytest.approx(result.total, rel=1e-6)


def test_active_customers_and_average_order_value(ctx, store):
    _, orders, _ = store
    sales = orders[orders["kind"] == "sale"]
    last_day = sales["ordered_at"].max().normalize()
    active = run_tool(ctx, "forecast_metrics", {"metric": "active_customers", "horizon": 3, "unit": "months"})
    assert active.bucket == "months" and len(active.forecast) == 3
    # The newest history point (a month) averages the weekly distinct buyers, computed here with pandas.
    newest = active.history[-1]
    weeks_back = (last_day - sales["ordered_at"].dt.normalize()).dt.days // 7
    weekly = sales.groupby(weeks_back)["customer"].nunique()
    window_days = (newest.end - newest.start).days + 1
    day_values = np.repeat(weekly.sort_index().to_numpy()[:math.ceil(window_days / 7) + 1], 7)[:window_days]
    assert newest.value == pytest.approx(day_values.mean(), abs=0.01)
    # Distinct buyers over three months cannot exceed the store's 200 customers.
    assert 0 < active.total <= 200 and active.lower <= active.total <= active.upper

    aov = run_tool(ctx, "forecast_metrics", {"metric": "average_order_value", "horizon": 8, "unit": "weeks"})
    daily_revenue, daily_orders = _daily(orders, "revenue"), _daily(orders, "orders")
    last_week = daily_revenue.iloc[-7:].sum() / daily_orders.iloc[-7:].sum()
    assert aov.history[-1].value == pytest.approx(last_week, abs=0.01)
    assert 20 < aov.total < 80  # lognormal(3.5, 0.5) orders less a few half returns: mean ≈ 37
    assert aov.repeat_purchases is not None and "repeat purchases" not in aov.summary


def test_cached_answer_is_reused(ctx, store, settings, monkeypatch):
    import analytics.tools.forecast_metrics as tool

    first = run_tool(ctx, "forecast_metrics", {"metric": "revenue", "horizon": 30})

    def not_again(*args, **kwargs):
        raise AssertionError("the cached answer should have been used")

    monkeypatch.setattr(tool, "_compute", not_again)
    assert run_tool(ctx, "forecast_metrics", {"metric": "revenue", "horizon": 30}) == first
    monkeypatch.undo()
    assert json.loads(first.model_dump_json())["forecast"]
    # Through Redis the answer is stored as JSON and parsed back into the same typed result.
    redis_ctx = ToolContext(db=store[0], settings=settings, cache=Cache.from_settings(settings))
    stored = run_tool(redis_ctx, "forecast_metrics", {"metric": "orders", "horizon": 2, "unit": "months"})
    again = run_tool(redis_ctx, "forecast_metrics", {"metric": "orders", "horizon": 2, "unit": "months"})
    assert again == stored and again is not stored
    redis_ctx.cache.close()


def test_short_history_falls_back_and_says_why(fresh_db, settings):
    _load(fresh_db, _generate(weeks=6))
    ctx = ToolContext(db=fresh_db, settings=settings, cache=None)
    result = run_tool(ctx, "forecast_metrics", {"metric": "revenue", "horizon": 4, "unit": "weeks"})
    assert result.method == "recent_mean"
    assert "only 6 week(s) of history" in result.fallback_reason
    assert "Fallback forecast" in result.summary and "No backtest" in result.summary
    assert result.backtest is None and result.repeat_purchases is None


def test_no_orders_and_bad_arguments(fresh_db, settings):
    ctx = ToolContext(db=fresh_db, settings=settings, cache=None)
    with pytest.raises(ToolError, match="no orders yet"):
        run_tool(ctx, "forecast_metrics", {})
    with pytest.raises(ToolError, match="horizon"):
        run_tool(ctx, "forecast_metrics", {"horizon": 0})
    with pytest.raises(ToolError, match="metric"):
        run_tool(ctx, "forecast_metrics", {"metric": "profit"})


def test_horizon_is_capped_at_two_years(ctx):
    with pytest.raises(ToolError, match="25 months is too far ahead"):
        run_tool(ctx, "forecast_metrics", {"horizon": 25, "unit": "months"})
    longest = run_tool(ctx, "forecast_metrics", {"horizon": 730, "unit": "days"})
    assert longest.bucket == "months" and 24 <= len(longest.forecast) <= 25
    assert len(longest.history) >= 6


@pytest.mark.parametrize("cut", ["2024-09-15", "2024-09-30"])
def test_september_cuts_of_the_synthetic_store_see_the_holiday_peak(cut):
    """Three years of the synthetic store cut in September: the forecast the tool would make (its
    rolling-origin choice among the candidates) rises into the November-December peak and beats both
    naive rules — the mean of the last 4 weeks and the same weeks last year — on weekly MAPE."""
    from analytics.tools.forecast_metrics import _backtest
    from discovery.synthetic import StoreSpec, generate_store

    frame, _ = generate_store(StoreSpec(customers=3000, seed=7))
    value = frame["quantity"] * frame["unit_price"] - frame["line_discount"].fillna(0)
    daily = value.groupby(pd.to_datetime(frame["ordered_at"]).dt.normalize()).sum()
    daily = daily.reindex(pd.date_range(daily.index.min(), daily.index.max()), fill_value=0.0)
    end = pd.Timestamp(cut)
    history, future = daily[:end], daily[end + pd.Timedelta(days=1):end + pd.Timedelta(days=91)]
    weeks = len(future) // 7
    actual = future.to_numpy()[: 7 * weeks].reshape(weeks, 7).sum(axis=1)

    model = SeasonalTrendForecaster(interval=0.8).fit(history)
    summary, _ = _backtest(history, model)
    chosen = SeasonalTrendForecaster(structure=summary.chosen, interval=0.8).fit(history)
    forecast = chosen.point(7 * weeks).reshape(weeks, 7).sum(axis=1)

    past = weekly_totals(history).to_numpy()
    last_four = np.full(weeks, past[-4:].mean())
    last_year = past[-52:-52 + weeks]

    def mape(f):
        return float(np.mean(np.abs(actual - f) / actual))

    print(f"\nsynthetic store cut {cut}: chosen {summary.chosen}, weekly MAPE {mape(forecast):.3f} vs last-4-weeks "
          f"{mape(last_four):.3f} and same-weeks-last-year {mape(last_year):.3f}; candidates {summary.candidates}")
    assert mape(forecast) < mape(last_four) and mape(forecast) < mape(last_year)
    assert forecast[-5:].mean() > 1.2 * forecast[:4].mean()     # it sees the peak coming
