"""lookup_customer and analyze_customers against figures computed by hand from the fixture."""
from __future__ import annotations

import pytest

from analytics.core import ToolError
from analytics.tools.registry import run_tool
from tests.analytics_fixture import (AS_OF, CURRENT, analytics_db, ctx, loaded,  # noqa: F401
                                     value_figures)


def test_lookup_customer(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "lookup_customer", {"customer": fx.public_ids["S001"].lower()})
    c = result.customer
    assert c.public_id == fx.public_ids["S001"]
    assert (c.orders, c.lifetime_value, c.average_order_value) == (6, 12000.0, 2000.0)
    assert c.value_tier == "whale" and c.predicted_value_12m == 9000
    assert fx.public_ids["S001"] in result.summary and "12,000" in result.summary
    again = run_tool(ctx, "lookup_customer", {"customer": "S001"})
    assert again == result


def test_lookup_customer_errors(ctx):
    with pytest.raises(ToolError, match="C-FFFFFFFF"):
        run_tool(ctx, "lookup_customer", {"customer": "C-FFFFFFFF"})
    with pytest.raises(ToolError, match="customer"):
        run_tool(ctx, "lookup_customer", {})
    with pytest.raises(ToolError, match="colour"):
        run_tool(ctx, "lookup_customer", {"customer": "S001", "colour": "red"})


def _expected(keep):
    chosen = {s: p for s, p in CURRENT.items() if keep(s, p)}
    revenue = {s: value_figures(s, AS_OF)["revenue"] for s in chosen}
    at_risk = [s for s, p in chosen.items() if p.risk in ("high", "critical")]
    return chosen, revenue, at_risk


def test_analyze_customers_totals_cover_the_whole_match(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "analyze_customers", {"sort_by": "churn_risk", "limit": 3})
    chosen, revenue, at_risk = _expected(lambda s, p: True)
    assert result.totals.customers == 10 and result.has_more
    assert result.totals.lifetime_value == pytest.approx(sum(revenue.values()))
    assert result.totals.customers_at_risk == len(at_risk) == 4
    assert result.totals.value_at_risk == pytest.approx(sum(revenue[s] for s in at_risk))  # 45+30+210+95
    assert result.totals.value_at_risk == 380.0
    by_churn = sorted(chosen, key=lambda s: -chosen[s].churn)[:3]
    assert [r.public_id for r in result.rows] == [fx.public_ids[s] for s in by_churn]


def test_analyze_customers_filters_and_sorts(ctx, loaded):
    _, fx = loaded
    result = run_tool(ctx, "analyze_customers", {"segment": "frequency:frequent", "sort_by": "value", "limit": 2})
    chosen, revenue, _ = _expected(lambda s, p: p.frequency == "frequent")
    assert result.totals.customers == len(chosen) == 5
    assert result.totals.lifetime_value == pytest.approx(sum(revenue.values()))
    assert [r.public_id for r in result.rows] == [fx.public_ids["S001"], fx.public_ids["S002"]]

    page2 = run_tool(ctx, "analyze_customers", {"segment": "frequent", "sort_by": "value", "limit": 2, "offset": 2})
    assert [r.public_id for r in page2.rows] == [fx.public_ids["S003"], fx.public_ids["S008"]]

    risky_modest = run_tool(ctx, "analyze_customers", {"archetype": "Steady regulars", "risk_level": "high"})
    assert {r.public_id for r in risky_modest.rows} == {fx.public_ids["S007"], fx.public_ids["S010"]}
    rich = run_tool(ctx, "analyze_customers", {"min_value": 500, "sort_by": "recency"})
    assert [r.public_id for r in rich.rows] == [fx.public_ids[s] for s in ("S002", "S001", "S003")]
    assert run_tool(ctx, "analyze_customers", {"value_tier": "new"}).totals.customers == 1


def test_analyze_customers_bad_arguments(ctx):
    with pytest.raises(ToolError, match="sort_by"):
        run_tool(ctx, "analyze_customers", {"sort_by": "colour"})
    with pytest.raises(ToolError, match="limit"):
        run_tool(ctx, "analyze_customers", {"limit": 0})
    with pytest.raises(ToolError, match="'nosuch'"):
        run_tool(ctx, "analyze_customers", {"segment": "nosuch"})
