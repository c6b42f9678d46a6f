"""The damped-trend Holt-Winters candidate: recovery of a planted season and growth, the damped
trend without a season, skipped closed weeks, interval coverage on planted noise, estimator
conventions, and its place in the forecast tool's backtest (per-candidate coverage, the yearly
season required to take part)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analytics.tools.forecast_metrics import CANDIDATES, _backtest
from discovery.forecast import SeasonalTrendForecaster
from discovery.holt_winters import PHI_BOUNDS, DampedHoltWinters

NOISE = 0.08


def _planted_weekly(weeks: int, growth_per_year: float = 0.2, seed: int = 1) -> tuple[pd.Series, callable]:
    """Weekly totals with a known yearly wave (peak in December) and growth, log-normal noise."""
    rng = np.random.default_rng(seed)
    ends = pd.date_range("2021-01-10", periods=weeks, freq="7D")

    def truth(index: pd.DatetimeIndex) -> np.ndarray:
        years = (index - ends[0]).days.to_numpy() / 365.25
        season = 0.4 * np.cos(2 * np.pi * (index.day_of_year.to_numpy() - 350) / 365.25)
        return 5000 * np.exp(growth_per_year * years + season)

    return pd.Series(truth(ends) * np.exp(rng.normal(0, NOISE, weeks)), index=ends), truth


def _future(series: pd.Series, weeks: int) -> pd.DatetimeIndex:
    return pd.date_range(series.index[-1] + pd.Timedelta(days=7), periods=weeks, freq="7D")


def _wmape(actual, forecast):
    return float(np.abs(actual - forecast).sum() / np.abs(actual).sum())


def test_recovers_planted_season_and_growth():
    series, truth = _planted_weekly(156)
    model = SeasonalTrendForecaster(structure="holt_winters").fit(series)
    assert model.method_ == "holt_winters" and model.components_ == ("damped trend", "yearly")
    smoother = model.smoother_
    assert 0 < smoother.alpha_ < 1 and 0 <= smoother.beta_ <= smoother.alpha_
    assert 0 <= smoother.gamma_ <= 1 - smoother.alpha_ and PHI_BOUNDS[0] <= smoother.phi_ <= PHI_BOUNDS[1]
    assert smoother.sigma_ == pytest.approx(NOISE, rel=0.5)  # the one-step spread is about the noise
    expected = truth(_future(series, 26))
    forecast = model.predict(26)["forecast"].to_numpy()
    error, recent = _wmape(expected, forecast), _wmape(expected, np.full(26, series.iloc[-4:].mean()))
    print(f"\nplanted season, 26 weeks ahead: Holt-Winters WMAPE {error:.3f} vs last-4-weeks mean {recent:.3f}; "
          f"{model.describe()}")
    assert error < 0.1 and error < recent / 2
    assert "Holt-Winters" in model.describe() and "yearly season" in model.describe()


def test_short_history_gets_a_damped_trend_without_season():
    weeks = 59  # one short of a year and 8 weeks
    rng = np.random.default_rng(3)
    ends = pd.date_range("2022-01-02", periods=weeks, freq="7D")
    series = pd.Series(1000 + 20 * np.arange(weeks) + rng.normal(0, 10, weeks), index=ends)
    model = SeasonalTrendForecaster(structure="holt_winters").fit(series)
    assert model.components_ == ("damped trend",) and not model.smoother_.seasonal_
    assert "no season" in model.describe()
    steps = np.diff(model.predict(40)["forecast"].to_numpy())
    # Still rising after the history's growth, by less and less: the trend is damped.
    assert (steps > 0).all() and steps[-1] < 0.8 * steps[0]


def test_closed_weeks_are_skipped_not_fitted():
    series, truth = _planted_weekly(120, seed=4)
    closed = series.copy()
    closed.iloc[[50, 51, 102]] = 0.0  # a shop closed for three weeks
    model = SeasonalTrendForecaster(structure="holt_winters").fit(closed)
    assert len(model.closed_weeks_) == 3
    open_model = SeasonalTrendForecaster(structure="holt_winters").fit(series)
    expected = truth(_future(series, 13))
    with_gaps = _wmape(expected, model.predict(13)["forecast"].to_numpy())
    assert np.isfinite(with_gaps) and with_gaps < 0.15
    assert with_gaps < _wmape(expected, open_model.predict(13)["forecast"].to_numpy()) + 0.05


def test_interval_holds_about_80_percent_on_planted_noise():
    inside = []
    for seed in range(12):
        series, truth = _planted_weekly(130, seed=100 + seed)
        model = SeasonalTrendForecaster(structure="holt_winters", interval=0.8).fit(series)
        frame = model.predict(13)
        index = frame.index
        actual = truth(index) * np.exp(np.random.default_rng(seed).normal(0, NOISE, 13))
        inside.append(((actual >= frame["lower"]) & (actual <= frame["upper"])).to_numpy())
    coverage = float(np.mean(inside))
    print(f"\nHolt-Winters 80% interval on planted noise: {coverage:.0%} of 156 future weeks inside")
    assert 0.65 <= coverage <= 0.97


def test_estimator_conventions_and_bad_input():
    series, _ = _planted_weekly(80)
    smoother = DampedHoltWinters()
    assert smoother.fit(np.log(series.to_numpy())) is smoother
    first = smoother.point(10)
    np.testing.assert_array_equal(first, smoother.point(10))
    model = SeasonalTrendForecaster(structure="holt_winters").fit(series)
    pd.testing.assert_frame_equal(model.predict(8), model.predict(8))  # seeded paths, no refit
    with pytest.raises(ValueError, match="needs 8 weeks"):
        DampedHoltWinters().fit(np.log(np.full(7, 100.0)))


def test_tool_backtest_reports_every_candidate_and_its_coverage():
    long, _ = _planted_weekly(156)
    summary, _ = _backtest(long, SeasonalTrendForecaster().fit(long))
    assert set(summary.candidates) == set(CANDIDATES.values())  # Holt-Winters has its season at both origins
    assert set(summary.candidate_coverage) == set(summary.candidates)
    assert all(0.0 <= c <= 1.0 for c in summary.candidate_coverage.values())
    assert summary.interval_coverage == summary.candidate_coverage[CANDIDATES[summary.chosen]]
    print(f"\nplanted 3-year series: backtest errors {summary.candidates}, coverage {summary.candidate_coverage}")

    # 100 weeks leave the older origin 48 weeks: Holt-Winters would have no season there, so it sits out.
    short, _ = _planted_weekly(100)
    summary, _ = _backtest(short, SeasonalTrendForecaster().fit(short))
    assert CANDIDATES["holt_winters"] not in summary.candidates
    assert CANDIDATES["seasonal_naive"] not in summary.candidates or summary.origins == 2


def test_forecast_card_lists_every_candidate_with_its_error_and_coverage():
    from bot.views.format import format_value
    from bot.views.results import forecast_card

    labels = list(CANDIDATES.values())
    errors = dict(zip(labels, (0.11, 0.07, 0.09, 0.2)))
    coverage = dict(zip(labels, (0.85, 0.62, 0.77, 0.46)))
    data = {"metric": "revenue", "total": 1000.0, "interval": 0.8, "lower": 800.0, "upper": 1200.0,
            "start": "2024-10-01", "end": "2024-12-30", "horizon": 13, "unit": "weeks", "history": [], "forecast": [],
            "backtest": {"holdout_weeks": 13, "chosen": "seasonal_naive", "candidates": errors,
                         "candidate_coverage": coverage, "interval_coverage": 0.62}}
    text = json.dumps(forecast_card(data), ensure_ascii=False)
    error_field = text[text.index("Backtest error (weighted)"):text.index("80% interval held")]
    held_field = text[text.index("80% interval held"):]
    for label in labels:
        assert f"{label} {format_value(errors[label], 'rate')}" in error_field
        assert f"{label} {format_value(coverage[label], 'coverage')}" in held_field
    # Lowest error first, and each list in the same order.
    assert error_field.index("same week last year") < error_field.index("Holt-Winters") < error_field.index("seasonal-trend")
    assert held_field.index("same week last year") < held_field.index("Holt-Winters") < held_field.index("seasonal-trend")
