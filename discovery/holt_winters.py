"""Damped-trend Holt-Winters (exponential smoothing) on the log of weekly totals: one of the forecast's
candidates (discovery/forecast.py wraps it as `structure="holt_winters"`).

The model is ETS(A,Ad,A) in error-correction form (Hyndman et al., *Forecasting with Exponential
Smoothing*, 2008, table 2.3), on y_t = log(weekly total), so the season is additive in logs and
multiplicative in money, as in the seasonal-trend model:

    ŷ_t = l_{t-1} + φ·b_{t-1} + s_{t-m}          e_t = y_t − ŷ_t
    l_t = l_{t-1} + φ·b_{t-1} + α·e_t
    b_t = φ·b_{t-1} + β·e_t
    s_t = s_{t-m} + γ·e_t
    ŷ_{n+h} = l_n + (φ + … + φ^h)·b_n + s_{n+h-m·⌈h/m⌉}

with m = 52 weeks once SEASONAL_MIN_WEEKS (a year and 8 weeks) of history exist (the first year sets the
initial season, the weeks after it show how the season moves); shorter histories get the damped
trend alone. α, β, γ and φ minimise the one-step sum of squared errors (scipy's SLSQP, β ≤ α and
γ ≤ 1 − α as usual); the initial states come from the first weeks (the heuristic of Hyndman et al.
§2.6.1), which keeps the search to four parameters and the fit to a few tens of milliseconds.
Missing weeks (NaN: a shop closed over Christmas) get no correction: the states carry the forecast
through them. Intervals come from simulated paths of the same equations driven by the one-step
residuals' spread (so they widen with the horizon as the states wander, and sums over weeks stay
consistent), stretched at each horizon to the spread of the model's own 1–13-week-ahead errors over
the history, so that they rest on its track record as the other candidates' intervals do (on the
synthetic store this narrows them by about 15 %; they still held every week after each cut there,
and 85 % on planted noise in tests/test_holt_winters.py).
"""
from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize

SEASONAL_MIN_WEEKS = 60    # a year sets the initial season; 8 more weeks show how it moves
PHI_BOUNDS = (0.8, 0.98)   # below 0.8 the trend dies within weeks; at 1 it never stops (undamped)


def _one_step_errors(y: np.ndarray, alpha: float, beta: float, gamma: float, phi: float, level: float,
                     trend: float, season: np.ndarray, history: list | None = None
                     ) -> tuple[np.ndarray, float, float, np.ndarray]:
    """The filter: one-step errors (0 on missing weeks) and the final level, trend and season (season[t % m]
    belongs to week t); `history`, if given, receives (level, trend, season) after each week. A loop over
    weeks, as each state depends on the one before; on plain floats, because the optimiser calls it a few
    hundred times per fit and NumPy scalars are several times slower."""
    states = season.tolist()
    m = len(states)
    errors = []
    for t, value in enumerate(y.tolist()):
        k = t % m
        error = 0.0 if math.isnan(value) else value - (level + phi * trend + states[k])  # NaN: a missing week
        errors.append(error)
        level, trend = level + phi * trend + alpha * error, phi * trend + beta * error
        states[k] += gamma * error
        if history is not None:
            history.append((level, trend, list(states)))
    return np.array(errors), level, trend, np.array(states)


class DampedHoltWinters:
    """sklearn-style: hyper-parameters in __init__, `fit(log_weekly)` learns the `_` attributes,
    `point(h)` / `paths(h, …)` give log-scale forecasts without refitting."""

    def __init__(self, season_length: int = 52, seasonal_min_weeks: int = SEASONAL_MIN_WEEKS,
                 min_weeks: int = 8) -> None:
        self.season_length = season_length
        self.seasonal_min_weeks = seasonal_min_weeks
        self.min_weeks = min_weeks

    def fit(self, log_weekly: np.ndarray) -> "DampedHoltWinters":
        """log_weekly: log of each week's total, oldest first, NaN for weeks to skip."""
        y = np.asarray(log_weekly, dtype=float)
        observed = ~np.isnan(y)
        if observed.sum() < self.min_weeks:
            raise ValueError(f"Holt-Winters needs {self.min_weeks} weeks with sales, not {int(observed.sum())}")
        self.seasonal_ = len(y) >= max(self.seasonal_min_weeks, self.season_length + 1)
        level, trend, season = self._initial_states(y)

        def sse(params: np.ndarray) -> float:
            alpha, beta_share, gamma_share, phi = params
            errors = _one_step_errors(y, alpha, alpha * beta_share, (1 - alpha) * gamma_share, phi,
                                      level, trend, season)[0]
            return float(errors @ errors)

        start = np.array([0.3, 0.1, 0.1 if self.seasonal_ else 0.0, 0.9])
        bounds = [(0.01, 0.99), (0.0, 1.0), (0.0, 1.0 if self.seasonal_ else 0.0), PHI_BOUNDS]
        best = minimize(sse, start, method="SLSQP", bounds=bounds)
        alpha, beta_share, gamma_share, self.phi_ = (float(v) for v in best.x)
        self.alpha_, self.beta_, self.gamma_ = alpha, alpha * beta_share, (1 - alpha) * gamma_share
        history: list = []
        errors, self.level_, self.trend_, season = _one_step_errors(
            y, self.alpha_, self.beta_, self.gamma_, self.phi_, level, trend, season, history)
        # Rotate so that season_[j] belongs to the (j+1)-th week ahead.
        self.season_ = np.roll(season, -(len(y) % len(season)))
        n_params = 4 + (self.season_length if self.seasonal_ else 0)
        dof = max(int(observed.sum()) - n_params, 4)
        self.sigma_ = float(np.sqrt(errors @ errors / dof))
        self.spread_scale_ = self._spread_scale(y, history)
        return self

    def _model_spread(self, horizon: int) -> np.ndarray:
        """The model's own standard deviation h weeks ahead (Hyndman et al. 2008, table 6.1, class 1):
        σ·sqrt(1 + Σ_{j<h} c_j²), c_j = α + β·(φ + … + φ^j) + γ·[j a multiple of m]."""
        j = np.arange(1, horizon)
        c = self.alpha_ + self.beta_ * self._damped_sums(horizon - 1) + self.gamma_ * (j % self.season_length == 0)
        return self.sigma_ * np.sqrt(1 + np.concatenate([[0.0], np.cumsum(c ** 2)]))

    def _spread_scale(self, y: np.ndarray, history: list) -> np.ndarray:
        """How much wider (or narrower) the forecasts' errors h = 1…13 weeks ahead actually were over the
        history than the model's equations say: each week's states forecast the next 13 weeks, compared
        with what came. The simulated paths are stretched by this, so the interval rests on the model's
        track record (as the other candidates' do) while keeping its shape over the horizon. Weeks in the
        first year (which set the initial season) are not counted."""
        horizon, m = 13, len(history[0][2])
        start = self.season_length if self.seasonal_ else 4
        sums = self._damped_sums(horizon)
        squares = [[] for _ in range(horizon)]
        for t in range(start, len(y) - 1):
            level, trend, season = history[t]
            for h in range(1, min(horizon, len(y) - 1 - t) + 1):
                if not np.isnan(y[t + h]):
                    squares[h - 1].append((y[t + h] - level - sums[h - 1] * trend - season[(t + h) % m]) ** 2)
        model = self._model_spread(horizon)
        scale = np.ones(horizon)
        for h, found in enumerate(squares):
            if len(found) >= 8 and model[h] > 0:
                scale[h] = np.sqrt(np.mean(found)) / model[h]
            elif h > 0:
                scale[h] = scale[h - 1]
        return scale

    def _initial_states(self, y: np.ndarray) -> tuple[float, float, np.ndarray]:
        filled = _interpolate(y)
        if self.seasonal_:
            m = self.season_length
            # Growth per week: each later week against the same week a year before.
            trend = float(np.mean(filled[m:] - filled[:-m]) / m)
            # The first year less its mean and its growth is the season; the level starts a week
            # before it.
            line = filled[:m].mean() + trend * (np.arange(m) - (m - 1) / 2)
            return float(line[0] - trend), trend, filled[:m] - line
        head = filled[: min(len(filled), 13)]
        slope, intercept = np.polyfit(np.arange(len(head)), head, 1)
        return float(intercept), float(slope), np.zeros(1)

    def _damped_sums(self, horizon: int) -> np.ndarray:
        return np.cumsum(self.phi_ ** np.arange(1, horizon + 1))

    def point(self, horizon: int) -> np.ndarray:
        """Log-scale forecasts for the next `horizon` weeks (the median of the paths)."""
        seasonal = self.season_[np.arange(horizon) % len(self.season_)]
        return self.level_ + self._damped_sums(horizon) * self.trend_ + seasonal

    def paths(self, horizon: int, n_paths: int, rng: np.random.Generator) -> np.ndarray:
        """(n_paths, horizon) simulated log-scale futures: the equations driven by N(0, σ²) errors, their
        spread at each horizon scaled to the track record (`spread_scale_`)."""
        level = np.full(n_paths, self.level_)
        trend = np.full(n_paths, self.trend_)
        season = np.tile(self.season_, (n_paths, 1))
        shocks = rng.standard_normal((n_paths, horizon)) * self.sigma_
        out = np.empty((n_paths, horizon))
        for h in range(horizon):  # over horizon steps, vectorised across paths
            k = h % season.shape[1]
            error = shocks[:, h]
            out[:, h] = level + self.phi_ * trend + season[:, k] + error
            level, trend = level + self.phi_ * trend + self.alpha_ * error, self.phi_ * trend + self.beta_ * error
            season[:, k] += self.gamma_ * error
        # Stretched around the point forecast (their centre) to the spread the track record showed.
        scale = self.spread_scale_[np.minimum(np.arange(horizon), len(self.spread_scale_) - 1)]
        point = self.point(horizon)
        return point + (out - point) * scale

    def describe(self) -> str:
        season = "yearly season" if self.seasonal_ else "no season (under a year and a bit of history)"
        return (f"damped trend (φ {self.phi_:.2f}), {season}; smoothing α {self.alpha_:.2f}, "
                f"β {self.beta_:.2f}, γ {self.gamma_:.2f}")


def _interpolate(y: np.ndarray) -> np.ndarray:
    """Missing weeks filled linearly from their neighbours (only to set the initial states)."""
    observed = ~np.isnan(y)
    positions = np.arange(len(y))
    return np.interp(positions, positions[observed], y[observed])


__all__ = ["SEASONAL_MIN_WEEKS", "DampedHoltWinters"]
