"""The forecasting model: backtest on the Online Retail II year against a naive baseline, recovery
of a planted trend and seasonality, the short-history fallback, and the estimator conventions."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discovery.forecast import SeasonalTrendForecaster, weekly_totals

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
