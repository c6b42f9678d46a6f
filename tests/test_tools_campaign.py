"""target_campaign: selections per campaign type checked against the fixture by hand, and the export."""
from __future__ import annotations

import csv

import pytest

from analytics.core import ToolError
from analytics.tools.registry import run_tool
from tests.analytics_fixture import AS_OF, CUSTOMERS, CURRENT, analytics_db, ctx, loaded, value_figures  # noqa: F401


def _ids(fx, result):
    return [fx.store_id_of(r.public_id) for r in result.rows]


def test_retention_ranked_by_value_at_stake(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "target_campaign", {"campaign": "retention"})
    expected = [s for s, p in CURRENT.items()
                if value_figures(s, AS_OF)["orders"] >= 2 and p.risk in ("medium", "high")]
    expected.sort(key=lambda s: -CURRENT[s].churn * value_figures(s, AS_OF)["revenue"])
    assert _ids(fx, result) == expected == ["S003", "S007", "S004", "S010"]
    assert result.eligible == result.selected == 4
    aov = sum(value_figures(s, AS_OF)["avg_order_value"] for s in expected)
    assert result.expected_value == pytest.approx(0.15 * aov, abs=0.01)
    assert result.rows[0].discount_percent == 15  # S003: lifetime value 600 → the 500 tier
    assert "churn 30%" in result.rows[0].reason


def test_other_campaigns(ctx, loaded):
    _, fx = loaded
    assert _ids(fx, run_tool(ctx, "target_campaign", {"campaign": "win_back"})) == ["S007", "S005", "S006"]
    assert _ids(fx, run_tool(ctx, "target_campaign", {"campaign": "vip"})) == ["S001", "S002"]
    assert _ids(fx, run_tool(ctx, "target_campaign", {"campaign": "upsell"})) == ["S008"]  # AOV 50 = median
    assert _ids(fx, run_tool(ctx, "target_campaign", {"campaign": "seasonal"})) == ["S001"]  # July order
    limited = run_tool(ctx, "target_campaign", {"campaign": "win_back", "limit": 1, "min_value": 40})
    assert _ids(fx, limited) == ["S007"] and limited.eligible == 2
    none = run_tool(ctx, "target_campaign", {"campaign": "vip", "segment": "one-time"})
    assert none.selected == 0 and none.export_path is None and "No customers" in none.summary


def test_export_has_real_ids_and_chat_result_does_not(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "target_campaign", {"campaign": "win_back"})
    with open(result.export_path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["store_customer_id"] for r in rows] == ["S007", "S005", "S006"]
    assert rows[0]["email"] == CUSTOMERS["S007"][1] and rows[0]["public_id"] == fx.public_ids["S007"]
    chat = result.model_dump_json()
    assert CUSTOMERS["S007"][1] not in chat and CUSTOMERS["S007"][0] not in chat


def test_bad_campaign(ctx):
    with pytest.raises(ToolError, match="campaign"):
        run_tool(ctx, "target_campaign", {"campaign": "spam_everyone"})
    with pytest.raises(ToolError, match="limit"):
        run_tool(ctx, "target_campaign", {"campaign": "vip", "limit": 10_000})


def test_cached_selection_still_writes_a_fresh_export_and_keeps_no_emails(loaded, settings, redis_prefix):
    import redis

    from analytics.cache import Cache
    from analytics.core import ToolContext
    from tests.analytics_fixture import pii_strings
    from tests.conftest import REDIS_URL

    db, fx = loaded
    prefix = redis_prefix + "campaign:"
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 1}),
                      cache=Cache(REDIS_URL, prefix=prefix))
    first = run_tool(ctx, "target_campaign", {"campaign": "retention"})
    second = run_tool(ctx, "target_campaign", {"campaign": "retention"})
    assert first.rows == second.rows and first.export_path != second.export_path
    with open(second.export_path, newline="", encoding="utf-8") as handle:
        assert [r["email"] for r in csv.DictReader(handle)] == [CUSTOMERS[s][1] for s in ("S003", "S007", "S004", "S010")]
    client = redis.Redis.from_url(REDIS_URL)
    stored = b" ".join(client.get(k) or b"" for k in client.scan_iter(prefix + "*")).decode()
    assert "target_campaign" in " ".join(k.decode() for k in client.scan_iter(prefix + "*"))
    assert not [s for s in pii_strings() if s in stored]
    for key in client.scan_iter(prefix + "*"):
        client.delete(key)


def test_unwritable_export_folder_is_a_clear_error(loaded, settings, tmp_path):
    from analytics.cache import Cache
    from analytics.core import ToolContext

    db, _ = loaded
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the data folder should be")
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"data_dir": blocked}), cache=Cache(None))
    with pytest.raises(ToolError, match="could not be written to .*not-a-dir"):
        run_tool(ctx, "target_campaign", {"campaign": "vip"})


def test_old_campaign_exports_are_pruned_when_a_new_one_is_written(tmp_path):
    import os
    import time
    from types import SimpleNamespace

    from analytics.tools.target_campaign import EXPORT_RETENTION_SECONDS, write_export

    folder = tmp_path / "exports"
    folder.mkdir()
    stale = folder / "campaign-vip-run1-old.csv"
    fresh = folder / "campaign-vip-run1-recent.csv"
    unrelated = folder / "notes.txt"
    for path in (stale, fresh, unrelated):
        path.write_text("x")
    week_and_a_bit = time.time() - EXPORT_RETENTION_SECONDS - 60
    os.utime(stale, (week_and_a_bit, week_and_a_bit))
    os.utime(unrelated, (week_and_a_bit, week_and_a_bit))

    written = write_export(SimpleNamespace(data_dir=tmp_path), "vip", 2, [])

    assert not stale.exists()
    assert fresh.exists() and unrelated.exists() and written.exists()
