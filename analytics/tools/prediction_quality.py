"""prediction_quality: how far to trust the current run's predictions — the churn model's own
time-split backtest (AUC and Brier against BG/NBD alone and purchase frequency alone, calibration),
the purchase and spend models, the revenue forecast's backtest against the naive baseline, and the
data minimums a store needs before predictions mean much (as peers require: 500+ buyers, 180+ days
of history, orders in the last 30 days, some customers with 3+ orders)."""
from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel

from analytics.core import ToolContext, ToolInput, ToolResult, require_current_run
from analytics.data_minimums import DataCheck, data_checks
from analytics.tools.common import cached
from analytics.tools.registry import MenuEntry, OfflinePhrases, tool



class PredictionQualityInput(ToolInput):
    """How accurate the current predictions are."""


class CalibrationBin(BaseModel):
    bin: str
    customers: int
    predicted: float
    observed: float


class PredictionQualityResult(ToolResult):
    run_id: int
    as_of: datetime
    churn_model: str | None
    model_auc: float | None
    bgnbd_auc: float | None
    frequency_auc: float | None
    brier_score: float | None
    backtest_note: str | None = None
    calibration: list[CalibrationBin] = []
    purchase_model: str | None
    purchase_model_note: str | None = None
    spend_model: str | None
    forecast_wmape: float | None = None
    forecast_baseline_wmape: float | None = None
    forecast_baseline: str | None = None
    forecast_model: str | None = None                  # the candidate the revenue backtest chose
    forecast_interval_coverage: float | None = None    # its 80 % interval's share of held-out weeks
    forecast_candidate_wmape: dict[str, float] = {}    # every candidate's backtest error
    forecast_candidate_coverage: dict[str, float] = {}  # and its interval coverage
    data_checks: list[DataCheck]
    trustworthy: bool


def _grade(auc: float | None) -> str:
    if auc is None:
        return "not measured"
    return "strong" if auc >= 0.8 else "useful" if auc >= 0.7 else "weak" if auc >= 0.6 else "barely better than chance"


def _forecast_backtest(ctx: ToolContext):
    """The revenue forecast's own backtest, from the forecast tool (None when it cannot run)."""
    from analytics.core import ToolError
    from analytics.tools.forecast_metrics import ForecastMetricsInput, forecast_metrics

    try:
        return forecast_metrics(ctx, ForecastMetricsInput(metric="revenue", horizon=13, unit="weeks")).backtest
    except ToolError:
        return None


@tool("prediction_quality",
      "How accurate the predictions are: the current discovery run's churn model backtest (AUC and Brier "
      "against BG/NBD alone and purchase frequency alone, a calibration table), the purchase and spend models "
      "used, the revenue forecast's backtest error against the naive baseline, and whether the store has "
      "enough data for predictions to be trusted (500+ buyers, 180+ days, recent orders, repeat customers). "
      "Use for 'how accurate are your predictions?', 'can I trust the churn scores?'.",
      title="Prediction quality",
      menu=(MenuEntry("how accurate the predictions are", {}),),
      offline=OfflinePhrases(re.compile(
          r"\b(how (?:accurate|reliable|good|trustworthy)|accuracy|(?:can|should) (?:i|we) trust|trust (?:the|your)|"
          r"model (?:quality|performance)|backtest|auc|calibrat\w*|how (?:sure|confident))\b")))
def prediction_quality(ctx: ToolContext, params: PredictionQualityInput) -> PredictionQualityResult:
    run = require_current_run(ctx)

    def compute() -> PredictionQualityResult:
        checks, row = data_checks(ctx, run)
        metrics = row["metrics"] or {}
        backtest = metrics.get("backtest") or {}
        chosen = metrics.get("churn_model")
        supervised = bool(chosen) and chosen not in ("bg/nbd", "nbd")
        auc = backtest.get("auc_supervised" if supervised else "auc_btyd")
        brier = backtest.get("brier_supervised" if supervised else "brier_btyd")
        table = backtest.get("calibration_supervised" if supervised else "calibration_btyd") or []
        purchase = metrics.get("purchase_model") or {}
        spend = metrics.get("spend_model") or {}
        forecast = _forecast_backtest(ctx)
        trustworthy = all(c.enough for c in checks) and auc is not None and auc >= 0.65
        freq = backtest.get("auc_frequency")
        parts = [f"Churn: {chosen or 'no model'}"]
        if auc is not None:
            parts[0] += (f", backtest AUC {auc:.3f} ({_grade(auc)})"
                         + (f" vs {freq:.3f} for purchase frequency alone" if freq is not None else "")
                         + (f" and {backtest['auc_btyd']:.3f} for BG/NBD alone" if supervised and backtest.get("auc_btyd") else ""))
        elif backtest.get("reason"):
            parts[0] += f" (no backtest: {backtest['reason']})"
        if forecast is not None:
            from analytics.tools.forecast_metrics import CANDIDATES

            parts.append(f"Revenue forecast ({CANDIDATES.get(forecast.chosen, forecast.chosen)}): backtest error "
                         f"{forecast.model_wmape:.1%} vs {forecast.baseline_wmape:.1%} for {forecast.baseline}, "
                         f"its 80% interval held {forecast.interval_coverage:.0%} of the held-out weeks")
        thin = [c.check for c in checks if not c.enough]
        parts.append("Data: enough for predictions" if not thin else "Data too thin to trust the predictions: " + ", ".join(thin))
        return PredictionQualityResult(
            tool="prediction_quality", summary=". ".join(parts) + ".", run_id=run.run_id, as_of=run.as_of,
            churn_model=chosen, model_auc=auc, bgnbd_auc=backtest.get("auc_btyd"), frequency_auc=freq,
            brier_score=brier, backtest_note=backtest.get("reason"),
            calibration=[CalibrationBin(**b) for b in table], purchase_model=purchase.get("model"),
            purchase_model_note=purchase.get("fallback_reason"), spend_model=spend.get("model"),
            forecast_wmape=forecast.model_wmape if forecast else None,
            forecast_baseline_wmape=forecast.baseline_wmape if forecast else None,
            forecast_baseline=forecast.baseline if forecast else None,
            forecast_model=CANDIDATES.get(forecast.chosen, forecast.chosen) if forecast else None,
            forecast_interval_coverage=forecast.interval_coverage if forecast else None,
            forecast_candidate_wmape=forecast.candidates if forecast else {},
            forecast_candidate_coverage=forecast.candidate_coverage if forecast else {},
            data_checks=checks, trustworthy=trustworthy)

    return cached(ctx, "prediction_quality", run.run_id, "", compute, PredictionQualityResult)
