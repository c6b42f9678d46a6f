"""Fuzzy segment memberships: how much each customer belongs to each segment of an axis.

Memberships are the fuzzy c-means formula (fuzzifier m = 2) applied to the KMeans centres:
u_ij = 1 / Σ_k (d_ij / d_ik)^(2/(m−1)), i.e. proportional to 1/d². They lie in 0..1, sum to 1 per
axis, and the largest one is always the nearest centre, so the dominant segment agrees with the
hard KMeans assignment. A customer sitting on a centre gets membership 1 there.

Strength of the dominant segment:
  strong    — dominant membership ≥ 0.6;
  balanced  — below that, and within 0.15 of the runner-up (sitting between two segments);
  weak      — otherwise (spread thinly over several segments).
"""
from __future__ import annotations

import numpy as np

STRONG_AT = 0.6
BALANCED_GAP = 0.15


def fuzzy_memberships(X: np.ndarray, centers: np.ndarray, fuzzifier: float = 2.0) -> np.ndarray:
    """(n, k) memberships of each row of X to each centre; rows sum to 1."""
    if len(centers) == 1:
        return np.ones((len(X), 1))
    d2 = ((X[:, None, :] - centers[None, :, :]) ** 2).sum(axis=2)
    exponent = 1.0 / (fuzzifier - 1.0)
    # Work with the nearest distance as the unit: avoids 0/0 when a point sits on a centre.
    nearest = d2.min(axis=1, keepdims=True)
    on_center = nearest[:, 0] < 1e-18
    ratio = (nearest / np.maximum(d2, 1e-300)) ** exponent
    ratio[on_center] = 0.0
    ratio[on_center, d2[on_center].argmin(axis=1)] = 1.0
    return ratio / ratio.sum(axis=1, keepdims=True)


def strengths(memberships: np.ndarray) -> np.ndarray:
    """strong / balanced / weak for each row's dominant segment."""
    if memberships.shape[1] == 1:
        return np.full(len(memberships), "strong", dtype=object)
    top2 = -np.sort(-memberships, axis=1)[:, :2]
    first, second = top2[:, 0], top2[:, 1]
    return np.where(first >= STRONG_AT, "strong",
                    np.where(first - second <= BALANCED_GAP, "balanced", "weak")).astype(object)
