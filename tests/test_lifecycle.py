"""Lifecycle that means what it says, on the synthetic store's planted truth: `lapsed` customers
are truly gone, `at_risk` ones mostly still alive and recently active, "about to churn" lists
customers still worth calling, risk filters keep the levels above the one named, and the profile
export carries the stage."""
from __future__ import annotations

import csv
import statistics

import numpy as np
import pandas as pd
import pytest

from analytics.router.offline import OfflineRouter
from analytics.router.vocabulary import VocabularyCache
from analytics.tools.registry import run_tool
from discovery.export import export_profiles
from discovery.lifecycle import STAGES, lifecycle_stages
from tests.synthetic_stores import loaded_store


def test_rules_on_hand_made_customers():
    tenure = np.array([30, 400, 400, 400, 900, 400])
    recency = np.array([10, 20, 100, 400, 800, 60])
    overdue = np.array([0.5, 0.5, 2.0, 5.0, 1.0, 0.8])
    alive = np.array([0.9, 0.9, 0.8, 0.2, 0.9, 0.3])
    assert list(lifecycle_stages(tenure, recency, overdue, alive)) == [
        "new", "active", "at_risk", "lapsed", "lapsed", "at_risk"]


@pytest.fixture(scope="module")
def store(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=1500, seed=11) as loaded:
        yield loaded.ctx, _profiles_with_truth(loaded)


def _profiles_with_truth(loaded) -> pd.DataFrame:
    with loaded.ctx.db.cursor() as cur:
        cur.execute("""SELECT c.store_customer_id AS customer_id, c.public_id, p.lifecycle, p.risk_level,
                              p.recency_days, p.revenue
                       FROM customer_profiles p JOIN customers c USING (customer_id)
                       WHERE p.run_id = (SELECT run_id FROM discovery_runs WHERE is_current)""")
        profiles = pd.DataFrame(cur.fetchall())
    truth = loaded.truth
    return profiles.merge(truth.assign(customer_id=truth["customer_id"].astype(str)), on="customer_id")


def test_stages_against_the_planted_truth(store, capsys):
    _, merged = store
    assert set(merged["lifecycle"]) <= set(STAGES) and len(merged) == 1500
    lapsed, at_risk = merged[merged["lifecycle"] == "lapsed"], merged[merged["lifecycle"] == "at_risk"]
    active = merged[merged["lifecycle"] == "active"]
    precision = 1 - lapsed["alive_at_end"].mean()
    at_risk_alive = at_risk["alive_at_end"].mean()
    with capsys.disabled():
        print(f"\nlifecycle on the synthetic store (1,500 customers, seed 11): lapsed {len(lapsed)} "
              f"(truly gone {precision:.1%}), at_risk {len(at_risk)} (still alive {at_risk_alive:.1%}, median "
              f"{at_risk['recency_days'].median():.0f} days since last order), active {len(active)} "
              f"(alive {active['alive_at_end'].mean():.1%})")
    assert precision >= 0.90
    assert at_risk_alive >= 0.75
    assert active["alive_at_end"].mean() >= 0.95
    # the planted 'new' customers are new here too
    planted_new = merged[merged["lifecycle_at_end"] == "new"]
    assert (planted_new["lifecycle"] == "new").mean() >= 0.9


def test_about_to_churn_lists_customers_still_worth_calling(store):
    ctx, merged = store
    decision = OfflineRouter(VocabularyCache(ctx.db).get()).route("which customers are about to churn?")
    assert decision.tool == "analyze_customers"
    result = run_tool(ctx, decision.tool, dict(decision.arguments, limit=50))
    days = [r.days_since_last_order for r in result.rows]
    assert len(days) == 50 and statistics.median(days) < 180
    assert all(r.lifecycle == "at_risk" for r in result.rows)
    stakes = [r.value_at_stake for r in result.rows]
    assert stakes == sorted(stakes, reverse=True)
    alive = merged.set_index("public_id").loc[[r.public_id for r in result.rows], "alive_at_end"]
    assert alive.mean() >= 0.7


def test_lapsed_customers_are_reached_through_win_back_words(store):
    ctx, _ = store
    decision = OfflineRouter(VocabularyCache(ctx.db).get()).route("which valuable customers have we lost?")
    assert decision.arguments.get("lifecycle") == "lapsed"
    result = run_tool(ctx, decision.tool, decision.arguments)
    assert result.rows and all(r.lifecycle == "lapsed" for r in result.rows)


def test_risk_filters_keep_the_levels_above(store):
    ctx, merged = store
    high = run_tool(ctx, "analyze_customers", {"risk_level": "high", "limit": 100})
    expected = int(merged["risk_level"].isin(["high", "critical"]).sum())
    assert high.totals.customers == expected and expected > int((merged["risk_level"] == "high").sum())
    assert {r.risk_level for r in high.rows} <= {"high", "critical"}
    assert "or above" in high.summary


def test_the_profile_export_carries_the_stage(store, tmp_path):
    ctx, merged = store
    path = tmp_path / "profiles.csv"
    export_profiles(ctx.db, path)
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(merged) and {r["lifecycle"] for r in rows} <= set(STAGES)
    by_id = {r["store_customer_id"]: r["lifecycle"] for r in rows}
    assert all(by_id[c] == s for c, s in zip(merged["customer_id"], merged["lifecycle"]))


def test_a_product_campaign_targets_its_buyers_and_companions(store):
    ctx, merged = store
    router = OfflineRouter(VocabularyCache(ctx.db).get())
    decision = router.route("who should I target for a batting sale?")
    assert decision.tool == "target_campaign" and decision.arguments["campaign"] == "product"
    assert decision.arguments["bought"] == "Batting"
    result = run_tool(ctx, "target_campaign", dict(decision.arguments, limit=200))
    with ctx.db.cursor() as cur:
        cur.execute("""SELECT o.customer_id, c.public_id, coalesce(p.category, 'uncategorized') AS category,
                              o.order_id, (l.quantity * l.unit_price - l.discount)::float8 AS value
                       FROM order_lines l JOIN orders o USING (order_id) JOIN customers c USING (customer_id)
                       LEFT JOIN products p USING (product_id)
                       WHERE o.kind = 'sale'""")
        lines = pd.DataFrame(cur.fetchall())
    # companions: categories in batting orders more often than chance (lift > 1), computed here with pandas
    per_order = lines.groupby(["order_id", "category"]).size().reset_index()[["order_id", "category"]]
    batting_orders = set(per_order.loc[per_order["category"] == "Batting", "order_id"])
    total_orders = per_order["order_id"].nunique()
    lift = {cat: (len(set(g["order_id"]) & batting_orders) / len(batting_orders)) / (len(g) / total_orders)
            for cat, g in per_order.groupby("category") if cat != "Batting"
            and len(set(g["order_id"]) & batting_orders) >= 5}
    companions = {cat for cat, value in lift.items() if value > 1}
    assert set(result.companions) == companions
    assert ("goes with it (bought together" in result.criteria) == bool(companions)
    bought = lines.groupby("public_id")["category"].agg(set)
    lapsed = set(merged.loc[merged["lifecycle"] == "lapsed", "public_id"])
    assert result.rows
    for row in result.rows:
        assert bought[row.public_id] & ({"Batting"} | companions), row.public_id
        assert row.public_id not in lapsed
    assert any("of their spend on it" in row.reason for row in result.rows)


def test_a_follow_up_narrows_the_list_to_the_buyers(store):
    ctx, _ = store
    router = OfflineRouter(VocabularyCache(ctx.db).get())
    first = router.route("top 20 customers by value")
    history = [{"question": "top 20 customers by value", "tool_calls": [{"tool": first.tool, "arguments": first.arguments}]}]
    narrowed = router.route("only those who bought batting", history)
    assert narrowed.tool == "analyze_customers"
    assert narrowed.arguments["bought"] == "Batting" and narrowed.arguments["sort_by"] == "value"
    result = run_tool(ctx, narrowed.tool, narrowed.arguments)
    assert result.rows and all(r.bought_spend and r.bought_spend > 0 for r in result.rows)
    values = [r.lifetime_value for r in result.rows]
    assert values == sorted(values, reverse=True)


def test_the_stores_top_pairs_match_pandas_and_are_above_chance(store):
    ctx, _ = store
    result = run_tool(ctx, "analyze_products", {"pairs": True, "limit": 100})
    with ctx.db.cursor() as cur:
        cur.execute("""SELECT DISTINCT o.order_id, coalesce(p.category, 'uncategorized') AS category
                       FROM order_lines l JOIN orders o USING (order_id) JOIN products p USING (product_id)
                       WHERE o.kind = 'sale'""")
        lines = pd.DataFrame(cur.fetchall())
    per_order = lines.groupby("order_id")["category"].agg(frozenset)
    n = len(per_order)
    share = {c: per_order.map(lambda s: c in s).sum() / n for c in set(lines["category"])}
    expected = {}
    for a in sorted(share):
        for b in sorted(share):
            if a < b:
                together = int(per_order.map(lambda s: a in s and b in s).sum())
                lift = together / n / (share[a] * share[b])
                if together >= max(20, np.ceil(0.002 * n)) and lift > 1:
                    expected[(a, b)] = (together, lift)
    got = {(p.first, p.second): (p.orders_together, p.lift) for p in result.top_pairs}
    assert set(got) == set(expected) and len(expected) >= 1, expected
    for pair, (together, lift) in expected.items():
        assert got[pair][0] == together and got[pair][1] == pytest.approx(lift, abs=1e-3)
    lifts = [p.lift for p in result.top_pairs]
    assert lifts == sorted(lifts, reverse=True)
    anchored = run_tool(ctx, "analyze_products", {"bought_with": "batting"})
    assert all(r.lift > 1 for r in anchored.bought_together)
    assert "Lift: how many times more often" in " ".join(anchored.notes)
