"""Buy-till-you-die models: BG/NBD (purchase count and dropout) and Gamma-Gamma (spend per order).

Both are fitted by maximum likelihood with SciPy, in the scikit-learn shape (`fit` → `params_`).
References: Fader, Hardie & Lee (2005a) "Counting your customers the easy way: an alternative to
the Pareto/NBD model", Marketing Science 24(2) (equation numbers below refer to it), and
Fader, Hardie & Lee (2005b) "RFM and CLV: using iso-value curves" (Gamma-Gamma, sec. 4.1).

Robustness on real retail data (where lifetimes raises ConvergenceError): parameters are optimised
in log space inside finite bounds, the likelihood is evaluated with log-sum-exp so it never
overflows, identical (x, t_x, T) rows are collapsed into weights, several starting points are
tried, and the best finite optimum wins. A fit that still fails, or lands on a bound, is reported in
`diagnostics_` so the caller can fall back.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import optimize, special

# Log-space bounds: e^-9 ≈ 1e-4 … e^9 ≈ 8e3. Wide enough for any store measured in weeks or days,
# narrow enough that the optimiser cannot wander to where gammaln loses precision.
_LOG_BOUND = 9.0


class ConvergenceFailure(RuntimeError):
    """No starting point gave a finite optimum."""


@dataclass
class FitDiagnostics:
    converged: bool = False
    log_likelihood: float = float("nan")
    starts_tried: int = 0
    starts_converged: int = 0
    at_bound: list[str] = field(default_factory=list)
    message: str = ""

    def as_dict(self) -> dict:
        return {"converged": self.converged, "log_likelihood": self.log_likelihood,
                "starts_tried": self.starts_tried, "starts_converged": self.starts_converged,
                "at_bound": self.at_bound, "message": self.message}


def _collapse(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique rows of the stacked columns and how often each occurs (the likelihood weights)."""
    stacked = np.column_stack([np.asarray(c, dtype=float) for c in columns])
    unique, counts = np.unique(stacked, axis=0, return_counts=True)
    return unique, counts.astype(float)


def _multi_start_minimise(objective, starts: list[np.ndarray], names: list[str]) -> tuple[np.ndarray, FitDiagnostics]:
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(names)
    best = None
    agreeing = 0
    diag = FitDiagnostics()
    for start in starts:
        if diag.starts_converged >= 2 and best is not None and agreeing >= 2:
            break  # two converged starts found the same optimum: more starts would only cost time
        diag.starts_tried += 1
        try:
            with np.errstate(all="ignore"):
                result = optimize.minimize(objective, start, method="L-BFGS-B", bounds=bounds,
                                           options={"maxiter": 2000, "ftol": 1e-13, "gtol": 1e-8})
        except (FloatingPointError, ValueError):
            continue
        if not np.isfinite(result.fun):
            continue
        if result.success:
            diag.starts_converged += 1
        tolerance = 1e-7 * max(1.0, abs(best.fun)) if best is not None else 0.0
        if best is None or result.fun < best.fun - tolerance:
            best, agreeing = result, int(bool(result.success))
        elif result.success and result.fun <= best.fun + tolerance:
            agreeing += 1
            if result.fun < best.fun:
                best = result
    if best is None:
        raise ConvergenceFailure("no starting point gave a finite likelihood")
    diag.converged = bool(best.success)
    diag.log_likelihood = float(-best.fun)
    diag.message = str(best.message)
    diag.at_bound = [n for n, v in zip(names, best.x) if abs(abs(v) - _LOG_BOUND) < 1e-3]
    return best.x, diag


class BetaGeoModel:
    """BG/NBD: purchases follow Poisson(λ) while alive; after each purchase the customer drops out
    with probability p. λ ~ Gamma(r, α), p ~ Beta(a, b).

    Inputs per customer, in one time unit of your choice (weeks for CDNOW):
    x = repeat purchases, t_x = time of the last purchase since the first, T = time since the first.
    """

    param_names = ("r", "alpha", "a", "b")

    def __init__(self, n_starts: int = 4, random_state: int = 0) -> None:
        self.n_starts = n_starts
        self.random_state = random_state

    @staticmethod
    def _log_likelihood(log_params: np.ndarray, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                        x_index: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Per-row log-likelihood, eq. (6): L = A1·A2·(A3 + δ(x>0)·A4), computed in logs.

        `x_index` = (unique x values, index of each row's x): the gamma functions depend on x
        only, and purchase counts take few distinct values, so they are evaluated once per value."""
        r, alpha, a, b = np.exp(log_params)
        xs, inverse = x_index if x_index is not None else np.unique(x, return_inverse=True)
        # ln A1 = lnΓ(r+x) − lnΓ(r) + r ln α
        # ln A2 = lnΓ(a+b) + lnΓ(b+x) − lnΓ(b) − lnΓ(a+b+x)
        ln_a1_a2 = (special.gammaln(r + xs) - special.gammaln(r) + r * np.log(alpha)
                    + special.gammaln(a + b) + special.gammaln(b + xs)
                    - special.gammaln(b) - special.gammaln(a + b + xs))[inverse]
        # ln A3 = −(r+x) ln(α+T)
        ln_a3 = -(r + x) * np.log(alpha + T)
        # ln A4 = ln a − ln(b+x−1) − (r+x) ln(α+t_x), only where x > 0
        has_repeat = x > 0
        ln_a4 = np.where(has_repeat,
                         np.log(a) - np.log(np.maximum(b + x - 1, 1e-300)) - (r + x) * np.log(alpha + t_x),
                         -np.inf)
        return ln_a1_a2 + np.logaddexp(ln_a3, ln_a4)

    def fit(self, x, t_x, T) -> "BetaGeoModel":
        rows, weights = _collapse(x, t_x, T)
        xs, txs, Ts = rows[:, 0], rows[:, 1], rows[:, 2]
        total = weights.sum()
        x_index = np.unique(xs, return_inverse=True)

        def objective(log_params: np.ndarray) -> float:
            value = -(weights * self._log_likelihood(log_params, xs, txs, Ts, x_index)).sum() / total
            return float(value) if np.isfinite(value) else 1e300

        # Starting points: the usual (1,1,1,1) plus scale-aware ones (α near the mean time between
        # purchases) and random jitter, so one bad basin does not decide the fit.
        scale = max(float(np.average(Ts, weights=weights)), 1e-3)
        rng = np.random.default_rng(self.random_state)
        starts = [np.zeros(4), np.log([0.5, scale / 4, 0.8, 2.5]), np.log([1.0, scale, 0.5, 1.0])]
        while len(starts) < self.n_starts:
            starts.append(np.log([0.5, scale / 4, 0.8, 2.5]) + rng.normal(0, 1.0, 4))
        best, diag = _multi_start_minimise(objective, starts, list(self.param_names))
        diag.log_likelihood *= total
        self.log_params_ = best
        self.params_ = dict(zip(self.param_names, np.exp(best).tolist()))
        self.diagnostics_ = diag
        return self

    def _p(self):
        return (self.params_[k] for k in self.param_names)

    def conditional_probability_alive(self, x, t_x, T) -> np.ndarray:
        """P(alive at T | x, t_x, T), eq. (12): 1 / (1 + δ(x>0)·a/(b+x−1)·((α+T)/(α+t_x))^(r+x))."""
        r, alpha, a, b = self._p()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        log_ratio = (np.log(a) - np.log(np.maximum(b + x - 1, 1e-300))
                     + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x)))
        odds = np.where(x > 0, np.exp(np.minimum(log_ratio, 700)), 0.0)
        return 1.0 / (1.0 + odds)

    def conditional_expected_purchases(self, t: float, x, t_x, T) -> np.ndarray:
        """E[Y(t) | x, t_x, T], purchases in the next t units, eq. (10)."""
        r, alpha, a, b = self._p()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        z = t / (alpha + T + t)
        hyp = special.hyp2f1(r + x, b + x, a + b + x - 1, z)
        head = (a + b + x - 1) / (a - 1) if abs(a - 1) > 1e-9 else np.full_like(x, np.nan)
        value = head * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
        value = value * self.conditional_probability_alive(x, t_x, T)
        # hyp2f1 loses accuracy for extreme arguments, and a ≈ 1 is a removable singularity: use
        # the alive-customer Poisson mean, which is a close upper bound for short horizons.
        fallback = self.conditional_probability_alive(x, t_x, T) * (r + x) / (alpha + T) * t
        bad = ~np.isfinite(value) | (value < 0)
        return np.where(bad, fallback, value)

    def probability_no_purchase(self, t: float, x, t_x, T) -> np.ndarray:
        """P(no purchase in the next t units | x, t_x, T).

        Dropout in BG/NBD only happens right after a purchase, so a customer alive at T who makes
        no purchase in (T, T+t] stays alive throughout and the window is a plain Poisson gap:
        P(0) = 1 − P(alive) + P(alive)·E[e^(−λt) | alive] with λ | alive ~ Gamma(r+x, α+T).
        """
        r, alpha, _, _ = self._p()
        x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
        alive = self.conditional_probability_alive(x, t_x, T)
        no_purchase_if_alive = ((alpha + T) / (alpha + T + t)) ** (r + x)
        return 1.0 - alive * (1.0 - no_purchase_if_alive)


class GammaGammaModel:
    """Gamma-Gamma spend: a customer's order values are Gamma(p, ν), ν ~ Gamma(q, γ) across customers.
    Inputs: n = number of orders behind the mean, m = mean order value (both > 0)."""

    param_names = ("p", "q", "gamma")

    def __init__(self, n_starts: int = 3, random_state: int = 0) -> None:
        self.n_starts = n_starts
        self.random_state = random_state

    @staticmethod
    def _log_likelihood(log_params: np.ndarray, n: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Marginal density of the mean spend m over n orders (Fader, Hardie & Lee 2005b, eq. 3):
        Γ(pn+q)/(Γ(pn)Γ(q)) · γ^q · m^(pn−1) · n^(pn) / (γ + m·n)^(pn+q)."""
        p, q, gamma = np.exp(log_params)
        return (special.gammaln(p * n + q) - special.gammaln(p * n) - special.gammaln(q)
                + q * np.log(gamma) + (p * n - 1) * np.log(m) + p * n * np.log(n)
                - (p * n + q) * np.log(gamma + m * n))

    def fit(self, n, m) -> "GammaGammaModel":
        n = np.asarray(n, dtype=float)
        m = np.asarray(m, dtype=float)
        keep = (n > 0) & (m > 0) & np.isfinite(m)
        rows, weights = _collapse(n[keep], np.round(m[keep], 2))
        ns, ms = rows[:, 0], rows[:, 1]
        total = weights.sum()

        def objective(log_params: np.ndarray) -> float:
            value = -(weights * self._log_likelihood(log_params, ns, ms)).sum() / total
            return float(value) if np.isfinite(value) else 1e300

        mean = float(np.average(ms, weights=weights))
        rng = np.random.default_rng(self.random_state)
        starts = [np.log([1.0, 2.0, mean]), np.log([5.0, 5.0, mean]), np.zeros(3)]
        while len(starts) < self.n_starts:
            starts.append(np.log([2.0, 3.0, mean]) + rng.normal(0, 1.0, 3))
        best, diag = _multi_start_minimise(objective, starts, list(self.param_names))
        diag.log_likelihood *= total
        self.log_params_ = best
        self.params_ = dict(zip(self.param_names, np.exp(best).tolist()))
        self.diagnostics_ = diag
        return self

    def conditional_expected_order_value(self, n, m) -> np.ndarray:
        """E[M | n, m] = (q−1)/(pn+q−1) · γp/(q−1) + pn/(pn+q−1) · m (eq. 5): a weighted average of
        the population mean and the customer's own mean. Needs q > 1; otherwise the population
        mean is infinite and the customer's own mean is returned."""
        p, q, gamma = (self.params_[k] for k in self.param_names)
        n = np.asarray(n, dtype=float)
        m = np.asarray(m, dtype=float)
        if q <= 1:
            return m.copy()
        weight = p * n / (p * n + q - 1)
        return (1 - weight) * (gamma * p / (q - 1)) + weight * m


class NBDModel:
    """The fallback: Poisson purchasing with Gamma(r, α) heterogeneity and no dropout (Ehrenberg's
    NBD), i.e. BG/NBD's limit p → 0. Two parameters, a concave-enough likelihood that it fits
    wherever BG/NBD does not; it over-states how many customers are still active, and the run
    metrics say when it was used."""

    param_names = ("r", "alpha")

    def __init__(self, n_starts: int = 3, random_state: int = 0) -> None:
        self.n_starts = n_starts
        self.random_state = random_state

    @staticmethod
    def _log_likelihood(log_params: np.ndarray, x: np.ndarray, T: np.ndarray) -> np.ndarray:
        # lnΓ(r+x) − lnΓ(r) + r ln α − (r+x) ln(α+T)   (the x! and T^x terms do not depend on r, α)
        r, alpha = np.exp(log_params)
        return special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) - (r + x) * np.log(alpha + T)

    def fit(self, x, t_x, T) -> "NBDModel":
        rows, weights = _collapse(x, T)
        xs, Ts = rows[:, 0], rows[:, 1]
        total = weights.sum()

        def objective(log_params: np.ndarray) -> float:
            value = -(weights * self._log_likelihood(log_params, xs, Ts)).sum() / total
            return float(value) if np.isfinite(value) else 1e300

        scale = max(float(np.average(Ts, weights=weights)), 1e-3)
        rng = np.random.default_rng(self.random_state)
        starts = [np.zeros(2), np.log([0.5, scale / 4])]
        while len(starts) < self.n_starts:
            starts.append(np.log([0.5, scale / 4]) + rng.normal(0, 1.0, 2))
        best, diag = _multi_start_minimise(objective, starts, list(self.param_names))
        diag.log_likelihood *= total
        self.log_params_ = best
        self.params_ = dict(zip(self.param_names, np.exp(best).tolist()))
        self.diagnostics_ = diag
        return self

    def conditional_probability_alive(self, x, t_x, T) -> np.ndarray:
        return np.ones(np.shape(x), dtype=float)

    def conditional_expected_purchases(self, t: float, x, t_x, T) -> np.ndarray:
        r, alpha = self.params_["r"], self.params_["alpha"]
        return (r + np.asarray(x, dtype=float)) / (alpha + np.asarray(T, dtype=float)) * t

    def probability_no_purchase(self, t: float, x, t_x, T) -> np.ndarray:
        r, alpha = self.params_["r"], self.params_["alpha"]
        x, T = np.asarray(x, dtype=float), np.asarray(T, dtype=float)
        return ((alpha + T) / (alpha + T + t)) ** (r + x)
