"""Segments on one behavioural axis: KMeans with k chosen by silhouette on a fixed-size sample,
guards against weak axes, and stable readable names derived from each segment's centroid.

Cost is what made the anchor system slow (a full O(n²) silhouette per k). Here every candidate k
is fitted on a bounded sample, the silhouette of all candidates is computed in one pass over a
fixed-size sample's distance matrix (row blocks against one-hot labels), and only the chosen k is
refined on all customers — so the time per axis grows linearly with customers.
"""
from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans

# Candidates are fitted on at most this many customers; the final fit sees everyone.
FIT_SAMPLE = 20_000
# Below this silhouette an axis's segments are reported as weak (little real structure).
MIN_SILHOUETTE = 0.25
# A k whose smallest segment holds less than this share of customers is not chosen.
MIN_SEGMENT_SHARE = 0.02
# When at least this share of customers sit on one identical feature vector, isolated from every
# other customer by at least POINT_MASS_GAP (scaled units), they are a segment of their own and k
# is chosen for everyone else: single-order customers on the frequency axis, who have no repeat
# rate to measure. Left in, their perfect silhouette decides k ("them vs the rest"). Ties that
# merely touch the rest (no re-buys yet, no discount yet) are not isolated and are clustered as usual.
POINT_MASS_SHARE = 0.05
POINT_MASS_GAP = 0.5


def sampled_silhouettes(points: np.ndarray, labelings: dict[int, np.ndarray], block: int = 1024) -> dict[int, float]:
    """Mean silhouette for several labelings of the same points, sharing one distance pass.

    For each row block, distances to all points are computed once and multiplied by the stacked
    one-hot label matrices, which gives every point's total distance to every cluster of every k."""
    # float32 halves the memory traffic of the n×n block work; silhouettes need no more precision.
    points = np.ascontiguousarray(points, dtype=np.float32)
    n = len(points)
    ks = sorted(labelings)
    onehots, offsets, offset = [], {}, 0
    for k in ks:
        onehot = np.zeros((n, k), dtype=np.float32)
        onehot[np.arange(n), labelings[k]] = 1.0
        onehots.append(onehot)
        offsets[k] = offset
        offset += k
    stacked = np.hstack(onehots)
    sizes = stacked.sum(axis=0)
    sq_norms = (points ** 2).sum(axis=1)
    totals = np.empty((n, offset), dtype=np.float64)
    for start in range(0, n, block):
        rows = points[start:start + block]
        d2 = sq_norms[start:start + block, None] + sq_norms[None, :] - 2.0 * (rows @ points.T)
        np.maximum(d2, 0.0, out=d2)
        np.sqrt(d2, out=d2)
        totals[start:start + block] = d2 @ stacked
    scores = {}
    for k in ks:
        part = totals[:, offsets[k]:offsets[k] + k]
        size = sizes[offsets[k]:offsets[k] + k]
        own = labelings[k]
        own_size = size[own]
        a = part[np.arange(n), own] / np.maximum(own_size - 1, 1)
        other = part / np.maximum(size, 1)
        other[np.arange(n), own] = np.inf
        b = other.min(axis=1)
        s = np.where(own_size > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
        scores[k] = float(np.mean(s))
    return scores


class AxisClusterer:
    """KMeans for one axis with k in [k_min, k_max] chosen by sampled silhouette.

    After `fit`: `k_`, `cluster_centers_` (scaled units), `labels_`, `silhouettes_` (k → score),
    `silhouette_`, `is_weak_`, `note_`."""

    def __init__(self, k_min: int = 2, k_max: int = 6, silhouette_sample: int = 5000, n_init: int = 3,
                 min_silhouette: float = MIN_SILHOUETTE, min_segment_share: float = MIN_SEGMENT_SHARE,
                 fit_sample: int = FIT_SAMPLE, random_state: int = 0) -> None:
        self.k_min = k_min
        self.k_max = k_max
        self.silhouette_sample = silhouette_sample
        self.n_init = n_init
        self.min_silhouette = min_silhouette
        self.min_segment_share = min_segment_share
        self.fit_sample = fit_sample
        self.random_state = random_state

    def fit(self, X: np.ndarray) -> "AxisClusterer":
        X = np.ascontiguousarray(X, dtype=np.float64)
        n = len(X)
        rng = np.random.default_rng(self.random_state)
        distinct = len(np.unique(np.round(X[: min(n, 50_000)], 6), axis=0))
        k_max = min(self.k_max, distinct, max(n - 1, 1))
        if k_max < max(self.k_min, 2):
            # No variation to speak of (e.g. nobody ever returns anything): one segment, reported weak.
            self.k_ = 1
            self.cluster_centers_ = np.median(X, axis=0, keepdims=True)
            self.labels_ = np.zeros(n, dtype=int)
            self.silhouettes_, self.silhouette_ = {}, None
            self.is_weak_, self.note_ = True, f"only {distinct} distinct feature pattern(s): one segment"
            return self

        point, on_point = self._point_mass(X)
        if point is not None:
            return self._fit_around_point_mass(X, point, on_point)

        fit_idx = rng.choice(n, self.fit_sample, replace=False) if n > self.fit_sample else np.arange(n)
        sample = X[fit_idx]
        sil_idx = (rng.choice(len(sample), self.silhouette_sample, replace=False)
                   if len(sample) > self.silhouette_sample else np.arange(len(sample)))
        candidates, labelings = {}, {}
        for k in range(max(self.k_min, 2), k_max + 1):
            model = KMeans(n_clusters=k, n_init=self.n_init, random_state=self.random_state).fit(sample)
            candidates[k] = model
            labelings[k] = model.labels_[sil_idx]
        self.silhouettes_ = sampled_silhouettes(sample[sil_idx], labelings)

        def smallest_share(k: int) -> float:
            return np.bincount(candidates[k].labels_, minlength=k).min() / len(sample)

        populated = [k for k in candidates if smallest_share(k) >= self.min_segment_share]
        pool = populated or list(candidates)
        k = max(pool, key=lambda c: (round(self.silhouettes_[c], 4), -c))
        notes = []
        if not populated:
            notes.append(f"every k from {min(candidates)} to {max(candidates)} leaves a segment under "
                         f"{self.min_segment_share:.0%} of customers")
        if self.silhouettes_[k] < self.min_silhouette:
            notes.append(f"silhouette {self.silhouettes_[k]:.2f} is below {self.min_silhouette:.2f}")

        # Refine the chosen k on everyone, starting from the sample's centres (a few Lloyd steps).
        final = KMeans(n_clusters=k, init=candidates[k].cluster_centers_, n_init=1, max_iter=50,
                       random_state=self.random_state).fit(X)
        self.k_ = k
        self.cluster_centers_ = final.cluster_centers_
        self.labels_ = final.labels_
        self.silhouette_ = self.silhouettes_[k]
        self.is_weak_ = bool(notes)
        self.note_ = "; ".join(notes) or None
        return self

    def _point_mass(self, X: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        """The feature vector shared by at least POINT_MASS_SHARE of rows (and a mask of them), if any,
        provided enough other rows remain to cluster."""
        rows, inverse, counts = np.unique(np.round(X, 9), axis=0, return_inverse=True, return_counts=True)
        top = int(counts.argmax())
        rest = len(X) - counts[top]
        if counts[top] < POINT_MASS_SHARE * len(X) or rest < 10 * max(self.k_min, 2) or len(rows) < 3:
            return None, None
        on_point = inverse.reshape(-1) == top
        nearest = np.sqrt(((X[~on_point] - rows[top]) ** 2).sum(axis=1).min())
        if nearest < POINT_MASS_GAP:
            return None, None
        return rows[top], on_point

    def _fit_around_point_mass(self, X: np.ndarray, point: np.ndarray, on_point: np.ndarray) -> "AxisClusterer":
        """Segment 0 is the point mass; k for the other rows by their own sampled silhouette."""
        inner = AxisClusterer(k_min=max(self.k_min - 1, 2), k_max=max(self.k_max - 1, 2),
                              silhouette_sample=self.silhouette_sample, n_init=self.n_init,
                              min_silhouette=self.min_silhouette, min_segment_share=self.min_segment_share,
                              fit_sample=self.fit_sample, random_state=self.random_state).fit(X[~on_point])
        self.k_ = inner.k_ + 1
        self.cluster_centers_ = np.vstack([point[None, :], inner.cluster_centers_])
        self.labels_ = np.zeros(len(X), dtype=int)
        self.labels_[~on_point] = inner.labels_ + 1
        self.silhouettes_ = {k + 1: v for k, v in inner.silhouettes_.items()}
        self.silhouette_ = inner.silhouette_
        share = on_point.mean()
        self.is_weak_ = inner.is_weak_
        notes = [f"{share:.0%} of customers share one feature vector and form their own segment"]
        self.note_ = "; ".join(notes + ([inner.note_] if inner.note_ else []))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Nearest centre for each row (customers the centres were not fitted on, too)."""
        d2 = ((np.asarray(X, dtype=float)[:, None, :] - self.cluster_centers_[None, :, :]) ** 2).sum(axis=2)
        return d2.argmin(axis=1)


# --- naming -------------------------------------------------------------------------------------
# Names come from each segment's median feature values (in the features' own units), through
# fixed rules per axis, so the same behaviour gets the same name in every run and every store.

def _ratio(value: float, reference: float) -> float:
    return value / reference if reference > 0 else 1.0


def _name_frequency(c: dict, store: dict) -> str:
    per_year = c["orders_per_active_year"]
    if per_year <= 0:
        return "one_time"
    return ("occasional" if per_year < 4 else "regular" if per_year < 20
            else "frequent" if per_year < 60 else "very_frequent")


def _name_value(c: dict, store: dict) -> str:
    ratio = _ratio(c["avg_order_value"], store["avg_order_value"])
    total = _ratio(c["revenue"], store["revenue"])
    if ratio >= 2.0:
        return "premium_basket"
    if total >= 3.0:
        return "big_spender"
    if ratio <= 0.6 and total <= 0.6:
        return "low_spender"
    if ratio <= 0.6:
        return "small_basket"
    return "mid_spender" if total < 1.5 else "high_spender"


def _name_exploration(c: dict, store: dict) -> str:
    if store["categories"] <= 1 and c["categories"] <= 1:
        # The store has no product categories (e.g. UCI exports): breadth is products per order.
        ratio = _ratio(c["products_per_order"], store["products_per_order"])
        return "narrow_baskets" if ratio < 0.6 else "wide_baskets" if ratio > 1.6 else "typical_baskets"
    if c["top_category_share"] >= 0.8:
        return "single_category"
    if c["categories"] >= max(4, store["categories"] * 2) or c["category_entropy"] >= 1.2:
        return "explorer"
    return "focused" if c["top_category_share"] >= 0.55 else "browser"


def _name_price(c: dict, store: dict) -> str:
    share = max(c["discounted_order_share"], 0.0)
    if share >= 0.5 or c["discount_rate"] >= 0.15:
        return "deal_seeker"
    return "occasional_deals" if share >= 0.2 else "full_price"


def _name_cadence(c: dict, store: dict) -> str:
    # The most pronounced departure from an ordinary week decides the name.
    scores = {
        # Thresholds sit well above an ordinary week (2/7 ≈ 29 % weekend orders, ~20 % in the two
        # holiday months, ~25 % after 18:00) and allow for the shrinkage of short histories.
        "weekend_shopper": c["weekend_share"] - 0.45,
        "holiday_gifter": c["holiday_share"] - 0.45,
        "evening_shopper": c["evening_share"] - 0.50,
        "weekday_shopper": 0.12 - c["weekend_share"],
    }
    best = max(scores, key=scores.get)
    return best if scores[best] >= 0 else "anytime_shopper"


def _name_maturity(c: dict, store: dict) -> str:
    if c["tenure_days"] <= 90:
        return "newcomer" if c["recency_days"] < 30 or c["recency_ratio"] < 0.5 else "quiet_newcomer"
    # Quiet for long against their tenure, or for many of their own usual gaps.
    overdue = c.get("overdue_gaps", 0.0)
    if (c["recency_days"] >= 180 and c["recency_ratio"] >= 0.5) or (c["recency_days"] >= 60 and overdue >= 5):
        return "lapsed"
    if (c["recency_days"] >= 90 and c["recency_ratio"] >= 0.3) or (c["recency_days"] >= 30 and overdue >= 2.5):
        return "cooling"
    return "veteran" if c["tenure_days"] >= 730 else "established"


def _name_repurchase(c: dict, store: dict) -> str:
    if c["repeat_line_share"] >= 0.35:
        return "replenisher"
    return "some_reorders" if c["repeat_line_share"] >= 0.1 else "tries_new"


def _name_returns(c: dict, store: dict) -> str:
    # Value returned, or how often an order comes back (B2B-style stores return small parts often).
    value, orders = c["return_value_rate"], c["return_order_share"]
    if value >= 0.2 or orders >= 0.5:
        return "serial_returner"
    return "some_returns" if value >= 0.04 or orders >= 0.2 else "rarely_returns"


NAMERS = {
    "frequency": _name_frequency, "value": _name_value, "exploration": _name_exploration,
    "price_sensitivity": _name_price, "cadence": _name_cadence, "maturity": _name_maturity,
    "repurchase": _name_repurchase, "returns": _name_returns,
}

# How each feature reads in an interpretation line: label and format.
FEATURE_TEXT = {
    "orders": ("orders", "{:.0f}"), "repeat_orders_per_year": ("repeat orders/year", "{:.1f}"),
    "orders_per_active_year": ("orders/active year", "{:.1f}"),
    "orders_per_year_between_orders": ("orders/year between first and last", "{:.1f}"),
    "overdue_gaps": ("quiet time in usual gaps", "{:.1f}"),
    "mean_gap_days": ("days between orders", "{:.0f}"), "avg_order_value": ("avg order", "{:,.2f}"),
    "revenue": ("lifetime revenue", "{:,.2f}"), "items_per_order": ("items/order", "{:.1f}"),
    "categories": ("categories", "{:.0f}"), "category_entropy": ("category entropy", "{:.2f}"),
    "top_category_share": ("top category share", "{:.0%}"), "products_per_order": ("products/order", "{:.1f}"),
    "discounted_order_share": ("orders on discount", "{:.0%}"), "discount_rate": ("discount rate", "{:.0%}"),
    "weekend_share": ("weekend orders", "{:.0%}"), "evening_share": ("evening orders", "{:.0%}"),
    "holiday_share": ("Nov–Dec orders", "{:.0%}"), "tenure_days": ("days since first order", "{:.0f}"),
    "recency_days": ("days since last order", "{:.0f}"), "recency_ratio": ("quiet share of tenure", "{:.0%}"),
    "repeat_line_share": ("lines re-bought", "{:.0%}"), "repeat_product_share": ("products bought again", "{:.0%}"),
    "return_value_rate": ("value returned", "{:.0%}"), "return_order_share": ("return orders per order", "{:.0%}"),
}


# The plain-language half of each interpretation line.
PHRASES = {
    "one_time": "bought once", "occasional": "orders now and then (under 4 a year)",
    "regular": "orders every month or two", "frequent": "orders several times a month",
    "very_frequent": "orders more than weekly",
    "premium_basket": "large orders, at least twice the store's typical order",
    "big_spender": "high lifetime spend", "low_spender": "small orders and low lifetime spend",
    "small_basket": "small orders", "mid_spender": "typical spend", "high_spender": "above-typical spend",
    "single_category": "buys almost only from one category", "explorer": "buys across many categories",
    "focused": "sticks mostly to one category",
    "narrow_baskets": "few different products per order", "wide_baskets": "many different products per order",
    "typical_baskets": "a typical range of products per order", "browser": "buys from a few categories",
    "deal_seeker": "buys mostly with discounts", "occasional_deals": "uses discounts sometimes",
    "full_price": "rarely uses discounts", "weekend_shopper": "orders mostly at weekends",
    "holiday_gifter": "orders concentrated in November–December", "evening_shopper": "orders mostly in the evening",
    "weekday_shopper": "orders on weekdays", "anytime_shopper": "no marked timing pattern",
    "newcomer": "first order within the last 90 days",
    "quiet_newcomer": "first order within the last 90 days, quiet since", "lapsed": "quiet for a long time relative to their history",
    "cooling": "quieter lately than their history suggests", "veteran": "customer for two years or more",
    "established": "steady customer", "replenisher": "re-buys the same products",
    "some_reorders": "re-buys some products", "tries_new": "rarely buys the same product twice",
    "serial_returner": "returns a large share of what they buy", "some_returns": "returns occasionally",
    "rarely_returns": "rarely returns anything", "empty": "no members",
}


def name_segments(axis: str, feature_names: list[str], raw: np.ndarray, labels: np.ndarray,
                  k: int, order_key: np.ndarray) -> list[tuple[str, str, dict]]:
    """(name, interpretation, centroid in feature units) for each cluster label 0..k−1.

    The centroid reported is the members' median (robust, and in units a person can read). Two
    segments that earn the same name are told apart by `order_key` (their position along the
    axis): the lower one gets `_lower`, the higher `_upper` (or `_2`, `_3`… beyond two)."""
    store = dict(zip(feature_names, np.median(raw, axis=0)))
    results = []
    for label in range(k):
        members = raw[labels == label]
        centroid = dict(zip(feature_names, (np.median(members, axis=0) if len(members) else
                                            np.full(len(feature_names), np.nan)).tolist()))
        name = NAMERS[axis](centroid, store) if len(members) else "empty"
        parts = [f"{FEATURE_TEXT[f][0]} {FEATURE_TEXT[f][1].format(v)}" for f, v in centroid.items()]
        results.append([name, f"{PHRASES.get(name, name)}; median " + ", ".join(parts), {f: round(v, 4) for f, v in centroid.items()}])
    by_name: dict[str, list[int]] = {}
    for label, (name, _, _) in enumerate(results):
        by_name.setdefault(name, []).append(label)
    for name, labels_with_name in by_name.items():
        if len(labels_with_name) < 2:
            continue
        ranked = sorted(labels_with_name, key=lambda lab: order_key[lab])
        suffixes = ["lower", "upper"] if len(ranked) == 2 else [str(i + 1) for i in range(len(ranked))]
        for lab, suffix in zip(ranked, suffixes):
            results[lab][0] = f"{name}_{suffix}"
    return [tuple(r) for r in results]  # type: ignore[misc]
