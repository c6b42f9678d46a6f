"""analyze_behavior: moves, declining, one-time buyers and discount dependency against the fixture."""
from __future__ import annotations

import pytest

from analytics.cache import Cache
from analytics.privacy import SMALL_GROUP_LABEL
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool
from tests.analytics_fixture import (AS_OF, CURRENT, OLD, ORDERS, OLD_AS_OF, _d, analytics_db, ctx,  # noqa: F401
                                     loaded, value_figures)


def test_segment_moves(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "analyze_behavior", {"focus": "segment_moves", "days_ago": 14})
    expected = {(axis, getattr(OLD[s], axis), getattr(CURRENT[s], axis))
                for s in OLD for axis in ("frequency", "value") if getattr(OLD[s], axis) != getattr(CURRENT[s], axis)}
    assert {(m.axis, m.from_segment, m.to_segment) for m in result.moves} == expected
    assert expected == {("frequency", "frequent", "occasional"), ("value", "modest spenders", "big spenders")}
    assert result.customers_compared == len(OLD) == 9
    assert {(m.public_id, m.axis) for m in result.moved_customers} == {
        (fx.public_ids["S007"], "frequency"), (fx.public_ids["S003"], "value")}
    only = run_tool(ctx, "analyze_behavior", {"focus": "segment_moves", "segment": "occasional"})
    assert [(m.public_id) for m in only.moved_customers] == [fx.public_ids["S007"]]


def test_declining(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "analyze_behavior", {"focus": "declining"})
    assert [d.public_id for d in result.declining] == [fx.public_ids["S007"]]   # churn 0.35 → 0.70
    assert result.declining_count == 1 and result.declining_value == 210.0
    assert result.declining[0].risk_before == "medium" and result.declining[0].risk_now == "high"


def test_one_time_buyers(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "analyze_behavior", {"focus": "one_time_buyers"})
    once = [s for s in CURRENT if value_figures(s, AS_OF)["orders"] == 1]
    assert result.one_time.one_time == len(once) == 3 and result.one_time.customers == 10
    assert result.one_time.lifetime_value == sum(value_figures(s, AS_OF)["revenue"] for s in once) == 125.0
    assert result.one_time.by_days_since_order == {"0-30": 1, "31-90": 0, "91-180": 1, "180+": 1}
    assert (result.one_time.was_one_time_before, result.one_time.converted_since) == (2, 0)
    assert [b.public_id for b in result.one_time_buyers] == [fx.public_ids[s] for s in ("S009", "S006", "S005")]


def test_discount_dependency(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "analyze_behavior", {"focus": "discount_dependency"})

    def dependent(as_of):
        found = set()
        for s in CURRENT:
            sales = [o for o in ORDERS if o[0] == s and o[2] == "sale" and _d(o[1]) <= as_of]
            if len(sales) >= 2 and sum(o[4] > 0 for o in sales) >= 0.5 * len(sales):
                found.add(s)
        return found

    now = dependent(AS_OF)
    assert now == {"S004", "S010"}
    assert result.discount.dependent == 2 and result.discount.dependent_before == len(dependent(OLD_AS_OF))
    assert {c.public_id for c in result.discount_customers} == {fx.public_ids[s] for s in now}
    assert result.discount.discount_given == 35.0   # 3 x 10 (S004) + 5 (S010)
    total_sales = [o for o in ORDERS if o[2] == "sale"]
    assert result.discount.discounted_order_share == pytest.approx(
        sum(o[4] > 0 for o in total_sales) / len(total_sales))


def test_small_move_groups_are_folded(loaded, settings):
    db, _ = loaded
    private = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 5}), cache=Cache(None))
    result = run_tool(private, "analyze_behavior", {"focus": "segment_moves"})
    assert {m.from_segment for m in result.moves} == {SMALL_GROUP_LABEL}
    ones = run_tool(private, "analyze_behavior", {"focus": "one_time_buyers"})
    assert ones.one_time.by_days_since_order is None   # 3 one-time buyers: no breakdown


def test_a_single_run_answers_with_recent_change(fresh_db, settings):
    from tests.analytics_fixture import load_fixture

    fx = load_fixture(fresh_db, settings)
    with fresh_db.cursor() as cur:
        cur.execute("DELETE FROM discovery_runs WHERE run_id = %s", (fx.old_run,))
    lonely = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    # One run: moves between runs cannot be told, so the answer is each customer's own recent change.
    answered = run_tool(lonely, "analyze_behavior", {"focus": "declining"})
    assert answered.focus == "recent_change" and "only one so far" in answered.note
    assert answered.recent_change is not None and answered.compared_run_id is None
    assert run_tool(lonely, "analyze_behavior", {"focus": "one_time_buyers"}).one_time.converted_since is None
    with pytest.raises(ToolError, match="days_ago"):
        run_tool(lonely, "analyze_behavior", {"focus": "declining", "days_ago": 30})
