"""'How accurate are your predictions?': the current run's own backtest card, its figures taken from
what the run recorded, with the data minimums, in Slack and the console."""
from __future__ import annotations

import pytest

from analytics.router.offline import OfflineRouter
from analytics.router.vocabulary import VocabularyCache
from analytics.tools.registry import run_tool
from bot.views.answer import tool_result_pages
from tests.synthetic_stores import loaded_store


@pytest.fixture(scope="module")
def ctx(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=900, seed=8) as loaded:
        yield loaded.ctx


def test_the_card_reports_what_the_run_measured(ctx):
    decision = OfflineRouter(VocabularyCache(ctx.db).get()).route("how accurate are your predictions?")
    assert decision.tool == "prediction_quality"
    result = run_tool(ctx, decision.tool, decision.arguments)
    with ctx.db.cursor() as cur:
        cur.execute("SELECT metrics FROM discovery_runs WHERE is_current")
        metrics = cur.fetchone()["metrics"]
    backtest = metrics["backtest"]
    assert result.churn_model == metrics["churn_model"]
    assert result.model_auc in (backtest["auc_btyd"], backtest["auc_supervised"])
    assert result.frequency_auc == backtest["auc_frequency"]
    assert result.calibration and all(0 <= b.observed <= 1 for b in result.calibration)
    assert sum(b.customers for b in result.calibration) == backtest["test_customers"]
    assert result.forecast_wmape is not None and result.forecast_baseline_wmape is not None
    # Every forecast candidate with its backtest error and interval coverage; the chosen one named.
    assert set(result.forecast_candidate_coverage) == set(result.forecast_candidate_wmape) and result.forecast_model
    assert result.forecast_interval_coverage is not None and "80% interval held" in result.summary
    checks = {c.check: c for c in result.data_checks}
    assert checks["buyers (at least 500)"].enough and result.trustworthy
    assert f"{result.model_auc:.3f}" in result.summary and "purchase frequency alone" in result.summary
    pages = tool_result_pages("prediction_quality", {}, result)
    assert any(b["type"] == "table" for page in pages for b in page)
    assert pages[0][0]["text"]["text"] == "Prediction quality"


def test_thin_data_is_said(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=120, seed=3, discovery_min_customers=50) as loaded:
        result = run_tool(loaded.ctx, "prediction_quality", {})
    assert not result.trustworthy and "too thin" in result.summary and "buyers" in result.summary


def test_predictions_on_thin_data_say_so(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=120, seed=3, discovery_min_customers=50) as loaded:
        churn = run_tool(loaded.ctx, "analyze_customers", {"sort_by": "churn_risk"})
        value = run_tool(loaded.ctx, "analyze_customers", {"sort_by": "value"})
        card = run_tool(loaded.ctx, "lookup_customer", {"customer": churn.rows[0].public_id})
    assert "Too little data to trust these predictions" in churn.summary and "buyers: 120" in churn.summary
    assert "Too little data" in card.summary
    assert "Too little data" not in value.summary      # lifetime value is a fact, not a prediction


def test_enough_data_adds_no_warning(ctx):
    churn = run_tool(ctx, "analyze_customers", {"sort_by": "churn_risk"})
    assert "Too little data" not in churn.summary
