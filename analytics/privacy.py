"""The privacy rule for aggregate answers: groups under `settings.min_group_size` customers are not
broken down further; their figures are folded into one 'other' row."""
from __future__ import annotations

from typing import Any, Iterable, Sequence

SMALL_GROUP_LABEL = "other (small groups)"


def min_group_size(ctx) -> int:
    return int(ctx.settings.min_group_size)


def is_small_group(ctx, customers: int | None) -> bool:
    """True when a group of this many customers is too small to describe on its own."""
    return customers is not None and 0 < customers < min_group_size(ctx)


def fold_small_groups(ctx, rows: Iterable[dict[str, Any]], *, count_key: str, label_key: str,
                      sum_keys: Sequence[str] = (), blank_keys: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Rows whose `count_key` is under the minimum are merged into one row labelled
    SMALL_GROUP_LABEL: counts and `sum_keys` are added, `blank_keys` (averages, rates, traits) become
    None, because they would describe a handful of people. Large rows pass through unchanged."""
    kept: list[dict[str, Any]] = []
    folded: dict[str, Any] | None = None
    for row in rows:
        if not is_small_group(ctx, row.get(count_key)):
            kept.append(row)
            continue
        if folded is None:
            folded = {key: None for key in row}
            folded[label_key] = SMALL_GROUP_LABEL
            folded[count_key] = 0
            for key in sum_keys:
                folded[key] = 0
        folded[count_key] += row[count_key]
        for key in sum_keys:
            folded[key] += row.get(key) or 0
    if folded is not None:
        for key in blank_keys:
            folded[key] = None
        kept.append(folded)
    return kept
