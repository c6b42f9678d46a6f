"""Archetypes: the combinations of dominant segments that customers actually show.

With eight axes of up to six segments the raw combinations run into the thousands, most with a
handful of members, so archetypes are defined on a principled subset:

* the ARCHETYPE_AXES (3) non-weak axes that are most informative, scored as entropy × silhouette:
  the entropy (bits) of the axis's segment shares is how much its label can tell customers apart
  (an axis where 90 % sit in one segment says little), and the silhouette discounts it by how
  cleanly the segments are separated (a weak axis's label is close to noise and would only split
  archetypes at random). If fewer than three axes are non-weak, the best weak ones fill in;
* combinations holding fewer than max(MIN_MEMBERS, MIN_SHARE of customers) are merged: each of their
  customers moves to the kept combination with the highest joint membership (the product of that
  customer's fuzzy memberships in the combination's segments), i.e. the nearest archetype.

An archetype's id is `A-` + 6 hex chars of SHA-256 over its signature (axis → segment, canonical
JSON), so the same combination has the same id in every process and every run.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd

ARCHETYPE_AXES = 3
MIN_MEMBERS = 5
MIN_SHARE = 0.01


def archetype_id(signature: dict[str, str]) -> str:
    canonical = json.dumps(signature, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "A-" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:6]


def segment_entropy(dominant: np.ndarray) -> float:
    """Entropy in bits of the shares of customers per dominant segment."""
    shares = pd.Series(dominant).value_counts(normalize=True).to_numpy()
    return float(-(shares * np.log2(shares)).sum())


def choose_axes(axis_quality: dict[str, tuple[bool, float | None, float]], count: int = ARCHETYPE_AXES) -> list[str]:
    """axis → (is_weak, silhouette, entropy bits). Non-weak first, then by entropy × silhouette."""
    def informativeness(axis: str) -> float:
        _, silhouette, entropy = axis_quality[axis]
        return (silhouette or 0.0) * entropy

    ranked = sorted(axis_quality, key=lambda a: (axis_quality[a][0], -informativeness(a), a))
    return ranked[:count]


def form_archetypes(axes: list[str], dominant: dict[str, np.ndarray], memberships: dict[str, np.ndarray],
                    segment_names: dict[str, list[str]]) -> tuple[np.ndarray, pd.DataFrame]:
    """Archetype id per customer and one row per archetype (archetype_id, signature, members).

    `dominant[axis]` holds segment names per customer, `memberships[axis]` the (n, k) matrix whose
    columns follow `segment_names[axis]`."""
    n = len(dominant[axes[0]])
    codes = []
    for axis in axes:
        index = {name: i for i, name in enumerate(segment_names[axis])}
        codes.append(pd.Series(dominant[axis]).map(index).to_numpy())
    combos = np.column_stack(codes)  # (n, len(axes)) segment index per axis
    unique, inverse, counts = np.unique(combos, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.reshape(-1)
    threshold = max(MIN_MEMBERS, MIN_SHARE * n)
    kept = np.flatnonzero(counts >= threshold)
    if len(kept) == 0:
        kept = np.array([int(np.argmax(counts))])
    assignment = inverse.copy()
    small = ~np.isin(inverse, kept)
    if small.any():
        # Joint log-membership of every (small-combination) customer in every kept combination.
        score = np.zeros((int(small.sum()), len(kept)))
        for a, axis in enumerate(axes):
            logu = np.log(np.maximum(memberships[axis][small], 1e-12))
            score += logu[:, unique[kept, a]]
        assignment[small] = kept[np.argmax(score, axis=1)]
    rows = []
    ids_by_combo = {}
    for combo in kept:
        signature = {axis: segment_names[axis][unique[combo, a]] for a, axis in enumerate(axes)}
        ids_by_combo[combo] = archetype_id(signature)
        rows.append({"archetype_id": ids_by_combo[combo], "signature": signature,
                     "name": " + ".join(signature[a] for a in axes),
                     "original_members": int(counts[combo])})
    lookup = np.empty(len(unique), dtype=object)
    for combo, aid in ids_by_combo.items():
        lookup[combo] = aid
    return lookup[assignment], pd.DataFrame(rows)


def _phrase(phrases: dict[str, str], name: str) -> str:
    # Names disambiguated as `frequent_lower` / `frequent_upper` / `regular_2` share their base's phrase.
    base, _, suffix = name.rpartition("_")
    if name not in phrases and base in phrases and (suffix in ("lower", "upper") or suffix.isdigit()):
        return f"{phrases[base]} ({suffix})"
    return phrases.get(name, name)


def describe(table: pd.DataFrame, profiles: pd.DataFrame, axes: list[str], phrases: dict[str, str]) -> pd.DataFrame:
    """Add members, share, CLV and order averages, and a one-line description to each archetype.
    `profiles` has archetype_id, predicted_clv_12m, orders and `strength_<axis>` columns."""
    n = len(profiles)
    grouped = profiles.groupby("archetype_id")
    stats = pd.DataFrame({
        "members": grouped.size(),
        "avg_clv": grouped["predicted_clv_12m"].mean(),
        "total_clv": grouped["predicted_clv_12m"].sum(),
        "avg_orders": grouped["orders"].mean(),
        "all_strong": grouped[[f"strength_{a}" for a in axes]].apply(
            lambda block: float((block == "strong").all(axis=1).mean())),
    })
    out = table.set_index("archetype_id").join(stats, how="left").reset_index()
    out["members"] = out["members"].fillna(0).astype(int)
    out = out[out["members"] > 0].copy()
    out["share"] = out["members"] / max(n, 1)
    out[["avg_clv", "total_clv", "avg_orders"]] = out[["avg_clv", "total_clv", "avg_orders"]].fillna(0.0)
    out["description"] = [
        f"{members:,} customers ({share:.1%}): " + "; ".join(_phrase(phrases, sig[a]) for a in axes)
        + f". {strong:.0%} fit all {len(axes)} segments strongly."
        for members, share, sig, strong in zip(out["members"], out["share"], out["signature"], out["all_strong"])
    ]
    return out.sort_values("members", ascending=False).reset_index(drop=True)
