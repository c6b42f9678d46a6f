"""get_recommendations: actions and compensation tiers for a customer, a segment and the store."""
from __future__ import annotations

import pytest

from analytics.cache import Cache
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool
from tests.analytics_fixture import AS_OF, CURRENT, analytics_db, ctx, loaded, value_figures  # noqa: F401


def test_customer_actions(ctx, loaded):
    _, fx = loaded
    lapsing = run_tool(ctx, "get_recommendations", {"customer": fx.public_ids["S007"]})
    titles = [a.title for a in lapsing.actions]
    assert titles[0].startswith("Follow up on the recent return")
    assert any(t.startswith("Win-back offer: 10% off") for t in titles)   # lifetime value 210 → 10 %
    assert lapsing.compensation.percent == 10 and lapsing.subject == fx.public_ids["S007"]

    whale = run_tool(ctx, "get_recommendations", {"customer": "S001"})
    assert whale.compensation.percent == 25
    assert whale.actions[0].title.startswith("VIP treatment")
    assert [p.sku for p in whale.suggested_products] == ["P1", "N1", "F1"]  # archetype favourites S001 lacks


def test_segment_actions_and_tiers(ctx):
    result = run_tool(ctx, "get_recommendations", {"segment": "frequency:frequent"})
    members = [s for s, p in CURRENT.items() if p.frequency == "frequent"]
    values = {s: value_figures(s, AS_OF)["revenue"] for s in members}
    assert result.discount_tiers == {"25": 1, "20": 1, "15": 1, "10": 2}
    by_title = {a.follow_up["arguments"]["campaign"]: a for a in result.actions}
    assert by_title["retention"].customers == 2 and by_title["retention"].value_at_stake == values["S003"] + values["S004"]
    assert by_title["vip"].customers == 2 and by_title["vip"].value_at_stake == 13200.0
    assert by_title["upsell"].customers == 1
    assert "win_back" not in by_title
    assert result.actions[0].follow_up == {"tool": "target_campaign",
                                           "arguments": {"campaign": "retention", "segment": "frequency:frequent"}}
    average = sum(values.values()) / len(values)
    assert result.compensation.percent == 20 and average == pytest.approx(2844.0)


def test_store_and_archetype(ctx):
    store = run_tool(ctx, "get_recommendations", {})
    assert store.scope == "store"
    assert {a.follow_up["arguments"]["campaign"]: a.customers for a in store.actions} == {
        "retention": 4, "win_back": 3, "upsell": 1, "vip": 2}
    assert sum(store.discount_tiers.values()) == 10
    assert run_tool(ctx, "get_recommendations", {"archetype": "one and done"}).subject == "A-ccc333"


def test_arguments(ctx, loaded):
    with pytest.raises(ToolError, match="not customer and segment"):
        run_tool(ctx, "get_recommendations", {"customer": "S001", "segment": "frequent"})
    with pytest.raises(ToolError, match="C-12345678"):
        run_tool(ctx, "get_recommendations", {"customer": "C-12345678"})
    db, _ = loaded
    private = ToolContext(db=db, settings=ctx.settings.model_copy(update={"min_group_size": 5}), cache=Cache(None))
    small = run_tool(private, "get_recommendations", {"segment": "occasional"})
    assert small.actions == [] and "fewer than 5" in small.summary
