"""analyze_segments against sizes and sums computed from the fixture's Python data."""
from __future__ import annotations

import pytest

from analytics.cache import Cache
from analytics.privacy import SMALL_GROUP_LABEL
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool
from tests.analytics_fixture import (AS_OF, CURRENT, OLD, analytics_db, ctx, loaded,  # noqa: F401
                                     value_figures)


def _members(profiles, axis, name):
    return [s for s, p in profiles.items() if getattr(p, axis) == name]


def test_overview(ctx):
    result = run_tool(ctx, "analyze_segments", {"mode": "overview"})
    assert result.total_customers == 10
    axes = {a.axis: a for a in result.axes}
    assert set(axes) == {"frequency", "value"}
    for axis in axes.values():
        for seg in axis.segments:
            chosen = _members(CURRENT, axis.axis, seg.name)
            assert seg.members == len(chosen)
            assert seg.lifetime_value == pytest.approx(sum(value_figures(s, AS_OF)["revenue"] for s in chosen))
            assert seg.average_churn == pytest.approx(sum(CURRENT[s].churn for s in chosen) / len(chosen))
            assert seg.customers_at_risk == sum(CURRENT[s].risk in ("high", "critical") for s in chosen)
    assert [s.name for s in axes["frequency"].segments] == ["frequent", "one-time", "occasional"]
    assert axes["frequency"].segments[0].lifetime_value == 14220.0
    only_value = run_tool(ctx, "analyze_segments", {"axis": "value"})
    assert [a.axis for a in only_value.axes] == ["value"]


def test_detail_and_compare(ctx):
    d = run_tool(ctx, "analyze_segments", {"mode": "detail", "segment": "big spenders"}).detail
    assert (d.axis, d.name, d.members) == ("value", "big spenders", 3)
    assert d.lifetime_value == 13800.0 and d.average_value == pytest.approx(4600.0)
    assert d.risk_levels == {"low": 2, "medium": 1, "high": 0, "critical": 0}
    assert d.value_tiers["whale"] == 1 and d.top_archetypes[0].archetype_id == "A-aaa111"
    assert d.strong_share == 0.0   # the fixture's value memberships are all 'balanced'
    assert run_tool(ctx, "analyze_segments", {"mode": "detail", "segment": "frequent"}).detail.strong_share == 1.0

    result = run_tool(ctx, "analyze_segments", {"mode": "compare", "segment": "value:big spenders",
                                                 "other_segment": "modest spenders"})
    big, modest = result.compared
    chosen = _members(CURRENT, "value", "modest spenders")
    assert modest.members == 7
    assert modest.average_churn == pytest.approx(sum(CURRENT[s].churn for s in chosen) / 7)
    assert result.differences["average_churn"] == pytest.approx(big.average_churn - modest.average_churn, abs=1e-4)


def test_changes(ctx):
    result = run_tool(ctx, "analyze_segments", {"mode": "changes", "days_ago": 28})
    got = {(c.axis, c.name): (c.members_before, c.members_now) for c in result.changes}
    for axis in ("frequency", "value"):
        for name in {getattr(p, axis) for p in CURRENT.values()}:
            assert got[(axis, name)] == (len(_members(OLD, axis, name)), len(_members(CURRENT, axis, name)))
    assert got[("frequency", "frequent")] == (6, 5)
    assert result.compared_as_of < result.as_of


def test_bad_arguments(ctx):
    with pytest.raises(ToolError, match="needs a segment"):
        run_tool(ctx, "analyze_segments", {"mode": "detail"})
    with pytest.raises(ToolError, match="other_segment"):
        run_tool(ctx, "analyze_segments", {"mode": "compare", "segment": "frequent"})
    with pytest.raises(ToolError, match="days_ago"):
        run_tool(ctx, "analyze_segments", {"mode": "changes", "days_ago": 3})
    with pytest.raises(ToolError, match="mode"):
        run_tool(ctx, "analyze_segments", {"mode": "everything"})


def test_small_groups_are_not_broken_down(loaded, settings):
    db, _ = loaded
    private = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 5}), cache=Cache(None))
    result = run_tool(private, "analyze_segments", {"mode": "overview"})
    frequency = {s.name: s for s in next(a for a in result.axes if a.axis == "frequency").segments}
    assert set(frequency) == {"frequent", SMALL_GROUP_LABEL}
    other = frequency[SMALL_GROUP_LABEL]
    assert other.members == 5 and other.average_churn is None and other.average_value is None
    d = run_tool(private, "analyze_segments", {"mode": "detail", "segment": "occasional"}).detail
    assert d.withheld and d.members == 2 and d.average_churn is None and d.risk_levels == {}
