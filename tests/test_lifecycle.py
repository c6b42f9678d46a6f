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

from analytics.core import ToolContext
from analytics.pseudonyms import assign_public_ids
from analytics.router.offline import OfflineRouter
from analytics.router.vocabulary import VocabularyCache
from analytics.tools.registry import run_tool
from discovery.export import export_profiles
from discovery.importer import import_frame
from discovery.lifecycle import STAGES, lifecycle_stages
from discovery.pipeline import run_discovery
from discovery.synthetic import StoreSpec, generate_store
from sql import Database


def test_rules_on_hand_made_customers():
    tenure = np.array([30, 400, 400, 400, 900, 400])
    recency = np.array([10, 20, 100, 400, 800, 60])
    overdue = np.array([0.5, 0.5, 2.0, 5.0, 1.0, 0.8])
    alive = np.array([0.9, 0.9, 0.8, 0.2, 0.9, 0.3])
    assert list(lifecycle_stages(tenure, recency, overdue, alive)) == [
        "new", "active", "at_risk", "lapsed", "lapsed", "at_risk"]


@pytest.fixture(scope="module")
def store(migrated_template, settings):
    from tests.conftest import create_database, drop_database

    url = create_database(migrated_template)
    db = Database(url, migrate=False)
    orders, truth = generate_store(StoreSpec(customers=1500, seed=11))
    import_frame(db, orders, "synthetic")
    store_settings = settings.model_copy(update={"database_url": url})
    assign_public_ids(db, store_settings)
    assert run_discovery(db, store_settings).status == "published"
    with db.cursor() as cur:
        cur.execute("""SELECT c.store_customer_id AS customer_id, c.public_id, p.lifecycle, p.risk_level,
                              p.recency_days, p.revenue
                       FROM customer_profiles p JOIN customers c USING (customer_id)
                       WHERE p.run_id = (SELECT run_id FROM discovery_runs WHERE is_current)""")
        profiles = pd.DataFrame(cur.fetchall())
    merged = profiles.merge(truth.assign(customer_id=truth["customer_id"].astype(str)), on="customer_id")
    yield ToolContext(db=db, settings=store_settings), merged
    db.close()
    drop_database(url)


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
