"""Where each customer stands, in words that mean what they say:

- new: first order within the last NEW_DAYS, too little history to judge;
- lapsed: gone by any reasonable reading: quiet for more than LAPSED_GAPS of their own usual gap
  between orders (and at least LAPSED_MIN_DAYS), or for more than LAPSED_MAX_DAYS whatever their rhythm;
- at_risk: still within reach but overdue against their own rhythm (quiet for more than AT_RISK_GAPS
  usual gaps) or with a falling probability of still being a customer (P(alive) below AT_RISK_ALIVE);
- active: everyone else.

"Usual gap" is the customer's own mean gap between orders, the store's typical gap for single-order
customers (features.overdue_gaps is the quiet time in those units).
"""
from __future__ import annotations

import numpy as np

STAGES = ("new", "active", "at_risk", "lapsed")
NEW_DAYS = 90
AT_RISK_GAPS = 1.5
AT_RISK_ALIVE = 0.5
LAPSED_GAPS = 4.0
LAPSED_MIN_DAYS = 180
LAPSED_MAX_DAYS = 730


def lifecycle_stages(tenure_days: np.ndarray, recency_days: np.ndarray, overdue_gaps: np.ndarray,
                     probability_alive: np.ndarray) -> np.ndarray:
    """One stage per customer (arrays of equal length); the rules above, in order: new, lapsed,
    at_risk, active."""
    tenure = np.asarray(tenure_days, dtype=float)
    recency = np.asarray(recency_days, dtype=float)
    overdue = np.nan_to_num(np.asarray(overdue_gaps, dtype=float), nan=0.0)
    alive = np.nan_to_num(np.asarray(probability_alive, dtype=float), nan=1.0)
    stages = np.full(len(tenure), "active", dtype=object)
    at_risk = (overdue > AT_RISK_GAPS) | (alive < AT_RISK_ALIVE)
    lapsed = (recency > LAPSED_MAX_DAYS) | ((overdue > LAPSED_GAPS) & (recency > LAPSED_MIN_DAYS))
    stages[at_risk] = "at_risk"
    stages[lapsed] = "lapsed"
    stages[tenure <= NEW_DAYS] = "new"
    return stages
