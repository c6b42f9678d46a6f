"""segment_info: archetype and segment cards, typical products recomputed from the fixture's orders."""
from __future__ import annotations

from collections import defaultdict

import pytest

from analytics.cache import Cache
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool
from tests.analytics_fixture import AS_OF, CURRENT, ORDERS, PRODUCTS, _d, analytics_db, ctx, loaded  # noqa: F401


def products_of(store_ids, min_buyers=1):
    buyers, revenue = defaultdict(set), defaultdict(float)
    for store_id, days, kind, lines, discount in ORDERS:
        if store_id in store_ids and kind == "sale" and _d(days) <= AS_OF:
            for number, (sku, qty) in enumerate(lines, start=1):
                buyers[sku].add(store_id)
                revenue[sku] += PRODUCTS[sku][2] * qty - (discount if number == 1 else 0)
    ranked = sorted(buyers, key=lambda sku: (-len(buyers[sku]), -revenue[sku]))
    return [(sku, len(buyers[sku]), round(revenue[sku], 2)) for sku in ranked if len(buyers[sku]) >= min_buyers]


def test_largest_archetypes(ctx):
    result = run_tool(ctx, "segment_info", {})
    assert result.kind == "largest_archetypes"
    assert [c.archetype_id for c in result.archetypes] == ["A-bbb222", "A-aaa111", "A-ccc333"]  # 4, 3, 3 members
    steady = result.archetypes[0]
    members = [s for s, p in CURRENT.items() if p.archetype == "A-bbb222"]
    assert steady.members == 4
    assert steady.average_churn == pytest.approx(sum(CURRENT[s].churn for s in members) / 4)
    assert [(p.sku, p.buyers, p.revenue) for p in steady.typical_products] == products_of(members)[:5]
    assert steady.typical_products[0].sku == "F1" and steady.typical_products[0].revenue == 355.0


def test_archetype_by_name_and_segment_card(ctx):
    card = run_tool(ctx, "segment_info", {"name": "loyal big spenders"})
    assert card.kind == "archetype" and card.archetypes[0].archetype_id == "A-aaa111"
    assert card.archetypes[0].traits == {"frequency": "frequent", "value": "big spenders"}
    seg = run_tool(ctx, "segment_info", {"name": "frequency:one-time"})
    assert seg.kind == "segment" and seg.segment.members == 3
    members = [s for s, p in CURRENT.items() if p.frequency == "one-time"]
    assert [(p.sku, p.buyers, p.revenue) for p in seg.segment_products] == products_of(members)[:5]
    by_plain_name = run_tool(ctx, "segment_info", {"name": "occasional"})
    assert by_plain_name.kind == "segment" and by_plain_name.segment.name == "occasional"


def test_unknown_name(ctx):
    with pytest.raises(ToolError, match="No archetype or segment matches 'unicorns'"):
        run_tool(ctx, "segment_info", {"name": "unicorns"})


def test_products_bought_by_few_members_are_left_out(loaded, settings):
    db, _ = loaded
    private = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 2}), cache=Cache(None))
    steady = run_tool(private, "segment_info", {"name": "A-bbb222"}).archetypes[0]
    members = [s for s, p in CURRENT.items() if p.archetype == "A-bbb222"]
    assert [p.sku for p in steady.typical_products] == [sku for sku, _, _ in products_of(members, 2)] == ["F1", "N1"]
    strict = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 5}), cache=Cache(None))
    card = run_tool(strict, "segment_info", {"name": "A-bbb222"}).archetypes[0]
    assert card.withheld and card.average_churn is None and card.typical_products == []
