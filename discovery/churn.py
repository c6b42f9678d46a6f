"""Churn and lifetime value for every customer: BG/NBD + Gamma-Gamma, a supervised alternative
chosen by a time-split backtest, risk levels and churn reasons in plain words.

churn_probability is P(no purchase in the next 90 days). Both candidates are scored on the same
backtest: features at cut-off C = as_of − 90 d, outcome = purchased in (C, as_of]; the supervised
model is trained one horizon earlier (features at C − 90 d, outcome in (C − 90 d, C]) so it never
sees the test outcome, and BG/NBD is fitted on the orders up to C. The one with the higher AUC
scores the live customers, and the run's metrics record both AUCs and the choice.

Risk levels from churn_probability: low < 0.30 ≤ medium < 0.60 ≤ high < 0.85 ≤ critical.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

from discovery.btyd import BetaGeoModel, ConvergenceFailure, GammaGammaModel, NBDModel
from discovery.features import build_features
from discovery.lifecycle import lifecycle_stages

log = logging.getLogger(__name__)

HORIZON_DAYS = 90
WEEK = 7.0
RISK_THRESHOLDS = ((0.30, "low"), (0.60, "medium"), (0.85, "high"))
# Fewer examples of either outcome than this and an AUC means little: the backtest is skipped.
MIN_CLASS_EXAMPLES = 20
SUPERVISED_FEATURES = [
    "log_orders", "log_recency", "log_tenure", "log_aov", "log_gap", "overdue_ratio",
    "recent_share", "discounted_order_share", "return_value_rate", "last_vs_average",
    "weekend_share", "holiday_share",
]


def risk_levels(churn_probability: np.ndarray) -> np.ndarray:
    levels = np.full(len(churn_probability), "critical", dtype=object)
    for threshold, name in reversed(RISK_THRESHOLDS):
        levels[churn_probability < threshold] = name
    return levels


def btyd_inputs(frame: pd.DataFrame, as_of: pd.Timestamp) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x (repeat purchase days), t_x and T in weeks, one transaction per customer-day."""
    end = as_of.floor("D")
    x = (frame["purchase_days"] - 1).to_numpy(dtype=float)
    t_x = ((frame["last_day"] - frame["first_day"]).dt.days / WEEK).to_numpy(dtype=float)
    T = ((end - frame["first_day"]).dt.days / WEEK).to_numpy(dtype=float)
    return x, t_x, np.maximum(T, t_x)


def fit_purchase_model(x, t_x, T) -> tuple[object, dict]:
    """BG/NBD, or NBD when BG/NBD does not converge or ends on a parameter bound. Never raises
    for data reasons: the returned metrics say which model was used and why."""
    report: dict = {}
    try:
        model = BetaGeoModel().fit(x, t_x, T)
        report["bgnbd"] = {"params": model.params_, **model.diagnostics_.as_dict()}
        if not model.diagnostics_.at_bound:
            return model, {"model": "bg/nbd", **report}
        reason = f"BG/NBD parameters at a bound: {', '.join(model.diagnostics_.at_bound)}"
    except ConvergenceFailure as exc:
        reason = f"BG/NBD did not converge: {exc}"
    log.warning("purchase model falls back to NBD: %s", reason)
    model = NBDModel().fit(x, t_x, T)
    return model, {"model": "nbd", "fallback_reason": reason,
                   "nbd": {"params": model.params_, **model.diagnostics_.as_dict()}, **report}


def supervised_frame(frame: pd.DataFrame) -> np.ndarray:
    """Order-history features for the supervised model (defined for any customer with an order)."""
    gap = frame["mean_gap_days"].clip(lower=1)
    earlier = frame["earlier_avg_value"]
    last_vs_average = (frame["last_order_value"] / earlier.where(earlier > 0)).fillna(1.0).clip(0, 5)
    columns = {
        "log_orders": np.log1p(frame["orders"]),
        "log_recency": np.log1p(frame["recency_days"]),
        "log_tenure": np.log1p(frame["tenure_days"]),
        "log_aov": np.log1p(frame["avg_order_value"].clip(lower=0)),
        "log_gap": np.log1p(gap),
        "overdue_ratio": (frame["recency_days"] / gap).clip(0, 50),
        "recent_share": frame["orders_last_180d"] / frame["orders"],
        "discounted_order_share": frame["discounted_order_share"],
        "return_value_rate": frame["return_value_rate"],
        "last_vs_average": last_vs_average,
        "weekend_share": frame["weekend_share"],
        "holiday_share": frame["holiday_share"],
    }
    return np.column_stack([np.asarray(columns[name], dtype=float) for name in SUPERVISED_FEATURES])


def _purchased_after(orders: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    window = orders[(orders["kind"] == "sale") & (orders["ordered_at"] > start) & (orders["ordered_at"] <= end)]
    return window["customer_id"].unique()


def _labelled(orders: pd.DataFrame, cutoff: pd.Timestamp) -> tuple[pd.DataFrame, np.ndarray]:
    """Features at `cutoff` and the outcome 'no purchase in the next 90 days' (1 = churned)."""
    features = build_features(orders, cutoff).frame
    bought = _purchased_after(orders, cutoff, cutoff + pd.Timedelta(days=HORIZON_DAYS))
    churned = (~features.index.isin(bought)).astype(int)
    return features, churned


def _classifier() -> HistGradientBoostingClassifier:
    return HistGradientBoostingClassifier(max_iter=80, learning_rate=0.08, max_leaf_nodes=15,
                                          min_samples_leaf=40, l2_regularization=1.0, random_state=0)


def backtest(orders: pd.DataFrame, as_of: pd.Timestamp) -> dict:
    """Time-split AUC of BG/NBD and of the supervised model; see the module docstring."""
    test_cut = as_of - pd.Timedelta(days=HORIZON_DAYS)
    train_cut = test_cut - pd.Timedelta(days=HORIZON_DAYS)
    first_order = orders.loc[orders["kind"] == "sale", "ordered_at"].min()
    if pd.isna(first_order) or first_order > train_cut:
        return {"possible": False, "reason": "less than 180 days of history before the as-of date"}
    train, y_train = _labelled(orders, train_cut)
    test, y_test = _labelled(orders, test_cut)
    for label, y in (("training", y_train), ("test", y_test)):
        if min(y.sum(), len(y) - y.sum()) < MIN_CLASS_EXAMPLES:
            return {"possible": False,
                    "reason": f"the {label} window has fewer than {MIN_CLASS_EXAMPLES} buyers or non-buyers"}
    result = {"possible": True, "train_cutoff": str(train_cut.date()), "test_cutoff": str(test_cut.date()),
              "test_customers": int(len(y_test)), "test_churn_rate": float(y_test.mean())}
    model, report = fit_purchase_model(*btyd_inputs(test, test_cut))
    p_btyd = model.probability_no_purchase(HORIZON_DAYS / WEEK, *btyd_inputs(test, test_cut))
    result["auc_btyd"] = float(roc_auc_score(y_test, p_btyd))
    result["btyd_model"] = report["model"]
    classifier = _classifier().fit(supervised_frame(train), y_train)
    p_supervised = classifier.predict_proba(supervised_frame(test))[:, 1]
    result["auc_supervised"] = float(roc_auc_score(y_test, p_supervised))
    return result


def score_customers(features, orders: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """Per-customer churn/value columns (index: customer_id) and the metrics to store with the run."""
    frame, as_of = features.frame, features.as_of
    x, t_x, T = btyd_inputs(frame, as_of)
    purchases, purchase_report = fit_purchase_model(x, t_x, T)
    out = pd.DataFrame(index=frame.index)
    out["probability_alive"] = purchases.conditional_probability_alive(x, t_x, T)
    out["expected_purchases_30d"] = purchases.conditional_expected_purchases(30 / WEEK, x, t_x, T)
    out["expected_purchases_90d"] = purchases.conditional_expected_purchases(HORIZON_DAYS / WEEK, x, t_x, T)
    expected_year = purchases.conditional_expected_purchases(365 / WEEK, x, t_x, T)
    churn_btyd = purchases.probability_no_purchase(HORIZON_DAYS / WEEK, x, t_x, T)

    # Spend per order: Gamma-Gamma on every customer's mean net order value (first order included,
    # so one-order customers get a shrunk estimate too). Failure falls back to the plain mean.
    values = frame["avg_order_value"].to_numpy(dtype=float)
    n_orders = frame["orders"].to_numpy(dtype=float)
    try:
        spend = GammaGammaModel().fit(n_orders, values)
        order_value = spend.conditional_expected_order_value(n_orders, np.maximum(values, 0.01))
        spend_report = {"model": "gamma-gamma", "params": spend.params_, **spend.diagnostics_.as_dict()}
    except ConvergenceFailure as exc:
        order_value = np.maximum(values, 0.0)
        spend_report = {"model": "observed mean", "fallback_reason": str(exc)}
    out["predicted_clv_12m"] = np.round(np.maximum(expected_year * order_value, 0.0), 2)

    metrics = {"purchase_model": purchase_report, "spend_model": spend_report}
    try:
        test = backtest(orders, as_of)
    except Exception as exc:  # the backtest informs the choice; it must never sink the run
        log.exception("churn backtest failed")
        test = {"possible": False, "reason": f"backtest error: {type(exc).__name__}: {exc}"}
    metrics["backtest"] = test
    use_supervised = test.get("possible") and test["auc_supervised"] > test["auc_btyd"]
    if use_supervised:
        recent, y_recent = _labelled(orders, as_of - pd.Timedelta(days=HORIZON_DAYS))
        classifier = _classifier().fit(supervised_frame(recent), y_recent)
        out["churn_probability"] = classifier.predict_proba(supervised_frame(frame))[:, 1]
        metrics["churn_model"] = "supervised gradient boosting"
    else:
        out["churn_probability"] = churn_btyd
        metrics["churn_model"] = purchase_report["model"]
    metrics["churn_auc"] = (max(test["auc_supervised"], test["auc_btyd"]) if test.get("possible") else None)
    out["churn_probability"] = out["churn_probability"].clip(0, 1)
    out["risk_level"] = risk_levels(out["churn_probability"].to_numpy())
    out["churn_reasons"] = churn_reasons(frame)
    out["lifecycle"] = lifecycle_stages(frame["tenure_days"], frame["recency_days"], frame["overdue_gaps"],
                                        out["probability_alive"])
    return out, metrics


def _join_reasons(columns: list[pd.Series], limit: int = 3) -> pd.Series:
    """Combine reason columns ('' = not applicable) into a PostgreSQL text[] literal, keeping the
    first `limit` that apply, column by column (never row by row)."""
    joined = pd.Series("", index=columns[0].index, dtype=object)
    used = np.zeros(len(joined), dtype=int)
    for column in columns:
        applies = (column != "") & (used < limit)
        quoted = '"' + column + '"'
        joined = joined.where(~applies, np.where(joined == "", quoted, joined + "," + quoted))
        used += applies.to_numpy()
    return "{" + joined + "}"


def churn_reasons(frame: pd.DataFrame) -> pd.Series:
    """Short phrases, most telling first, no personal data. Returned as text[] literals."""
    recency = frame["recency_days"].round().astype(int)
    gap = frame["mean_gap_days"].clip(lower=1)
    ratio = frame["recency_days"] / gap
    repeat = frame["orders"] >= 2
    overdue = repeat & (ratio >= 1.5) & (frame["recency_days"] >= 14)
    ratio_text = np.where(ratio < 3, ratio.round(1).astype(str), ratio.round().astype(int).astype(str))
    none = pd.Series("", index=frame.index, dtype=object)

    def when(mask, text) -> pd.Series:
        return none.where(~mask, text)

    earlier = frame["earlier_avg_value"]
    drop = 1 - frame["last_order_value"] / earlier.where(earlier > 0)
    falling = (frame["orders"] >= 3) & (drop >= 0.4)
    lifetime_rate = frame["orders"] / frame["tenure_days"].clip(lower=1)
    recent_rate = frame["orders_last_180d"] / 180
    slowing = (frame["orders"] >= 4) & (frame["tenure_days"] >= 360) & (recent_rate < 0.5 * lifetime_rate)
    columns = [
        when(overdue, "no order in " + recency.astype(str) + " days, " + pd.Series(ratio_text, index=frame.index)
             + "× their usual gap"),
        when(~repeat, "only one order so far, " + recency.astype(str) + " days ago"),
        when(repeat & ~overdue & (frame["recency_days"] >= 180), "no order in " + recency.astype(str) + " days"),
        when(slowing, "ordering less often than before"),
        when(falling, "order value falling (last order " + (drop.fillna(0) * 100).round().astype(int).astype(str)
             + "% below their average)"),
        when(frame["return_value_rate"] >= 0.2,
             "returns " + (frame["return_value_rate"] * 100).round().astype(int).astype(str) + "% of what they buy"),
    ]
    return _join_reasons(columns)
