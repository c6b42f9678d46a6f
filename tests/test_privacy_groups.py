"""The small-group rule on its own: rows under the minimum are folded into one row."""
from __future__ import annotations

from types import SimpleNamespace

from analytics.privacy import SMALL_GROUP_LABEL, fold_small_groups, is_small_group


def test_fold_small_groups():
    ctx = SimpleNamespace(settings=SimpleNamespace(min_group_size=5))
    rows = [{"name": "big", "members": 40, "value": 400.0, "average": 10.0},
            {"name": "tiny", "members": 2, "value": 30.0, "average": 15.0},
            {"name": "small", "members": 4, "value": 12.0, "average": 3.0}]
    folded = fold_small_groups(ctx, rows, count_key="members", label_key="name", sum_keys=("value",),
                               blank_keys=("average",))
    assert folded[0] == rows[0]
    assert folded[1] == {"name": SMALL_GROUP_LABEL, "members": 6, "value": 42.0, "average": None}
    assert not is_small_group(ctx, 0) and is_small_group(ctx, 4) and not is_small_group(ctx, 5)
