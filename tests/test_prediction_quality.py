"""'How accurate are your predictions?': the current run's own backtest card, its figures taken from
what the run recorded, with the data minimums, in Slack and the console."""
from __future__ import annotations

import pytest

from analytics.core import ToolContext
from analytics.pseudonyms import assign_public_ids
from analytics.router.offline import OfflineRouter
from analytics.router.vocabulary import VocabularyCache
from analytics.tools.registry import run_tool
from bot.views.answer import tool_result_pages
from discovery.importer import import_frame
from discovery.pipeline import run_discovery
from discovery.synthetic import StoreSpec, generate_store
from sql import Database


@pytest.fixture(scope="module")
def ctx(migrated_template, settings):
    from tests.conftest import create_database, drop_database

    url = create_database(migrated_template)
    db = Database(url, migrate=False)
    frame, _ = generate_store(StoreSpec(customers=900, seed=8))
    import_frame(db, frame, "synthetic")
    store_settings = settings.model_copy(update={"database_url": url})
    assign_public_ids(db, store_settings)
    assert run_discovery(db, store_settings).status == "published"
    yield ToolContext(db=db, settings=store_settings)
    db.close()
    drop_database(url)


def test_the_card_reports_what_the_run_measured(ctx):
    decision = OfflineRouter(VocabularyCache(ctx.db).get()).route("how accurate are your predictions?")
    assert decision.tool == "prediction_quality"
    result = run_tool(ctx, decision.tool, decision.arguments)
    with ctx.db.cursor() as cur:
        cur.execute("SELECT metrics FROM discovery_runs WHERE is_current")
        metrics = cur.fetchone()["metrics"]
    backtest = metrics["backtest"]
    assert result.churn_model == metrics["churn_model"]
    assert result.churn_auc in (backtest["auc_btyd"], backtest["auc_supervised"])
    assert result.churn_auc_frequency == backtest["auc_frequency"]
    assert result.calibration and all(0 <= b.observed <= 1 for b in result.calibration)
    assert sum(b.customers for b in result.calibration) == backtest["test_customers"]
    assert result.forecast_wmape is not None and result.forecast_baseline_wmape is not None
    checks = {c.check: c for c in result.data_checks}
    assert checks["buyers (at least 500)"].enough and result.trustworthy
    assert f"{result.churn_auc:.3f}" in result.summary and "purchase frequency alone" in result.summary
    pages = tool_result_pages("prediction_quality", {}, result)
    assert any(b["type"] == "table" for page in pages for b in page)
    assert pages[0][0]["text"]["text"] == "Prediction quality"


def test_thin_data_is_said(migrated_template, settings):
    from tests.conftest import create_database, drop_database

    url = create_database(migrated_template)
    db = Database(url, migrate=False)
    try:
        frame, _ = generate_store(StoreSpec(customers=120, seed=3))
        import_frame(db, frame, "synthetic")
        small = settings.model_copy(update={"database_url": url, "discovery_min_customers": 50})
        assert run_discovery(db, small).status == "published"
        result = run_tool(ToolContext(db=db, settings=small), "prediction_quality", {})
    finally:
        db.close()
        drop_database(url)
    assert not result.trustworthy and "too thin" in result.summary and "buyers" in result.summary
