"""Forecast charts: Slack's native `data_visualization` line chart (history, forecast and the
interval bounds as series) and the PNG drawn server-side for clients that reject the block."""
from __future__ import annotations

import io
from typing import Any

from bot.views.format import plain

MAX_CATEGORIES = 20
MAX_HISTORY_POINTS = 8
_LABEL_KEYS = ("label", "period", "date", "ds", "week", "month", "day", "start", "period_start")
_VALUE_KEYS = ("value", "actual", "forecast", "yhat", "mean", "prediction", "predicted")
_LOWER_KEYS = ("lower", "lower_80", "low", "yhat_lower", "lo")
_UPPER_KEYS = ("upper", "upper_80", "high", "yhat_upper", "hi")
_HISTORY_NAMES = ("history", "actuals", "observed", "past")
_FORECAST_NAMES = ("forecast", "points", "predictions", "future", "series")


def _first(row: dict[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def _points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    points = []
    for row in rows:
        label = _first(row, _LABEL_KEYS)
        value = _first(row, _VALUE_KEYS)
        if label is None or value is None:
            continue
        points.append({"label": str(label)[:20], "value": float(value),
                       "lower": _as_float(_first(row, _LOWER_KEYS)),
                       "upper": _as_float(_first(row, _UPPER_KEYS))})
    return points


def _as_float(value: Any) -> float | None:
    return None if value is None else float(value)


def forecast_series(result: Any) -> dict[str, Any] | None:
    """{metric, history: [points], forecast: [points], fields: (source field names)} or None when
    the result holds no forecast-shaped lists."""
    data = plain(result)
    history_key = next((k for k in _HISTORY_NAMES if isinstance(data.get(k), list) and data.get(k)), None)
    forecast_key = next((k for k in _FORECAST_NAMES if isinstance(data.get(k), list) and data.get(k)), None)
    if forecast_key is None:
        return None
    forecast = _points([plain(r) for r in data[forecast_key]])
    history = _points([plain(r) for r in data[history_key]]) if history_key else []
    if not forecast:
        return None
    metric = str(data.get("metric") or "value")
    return {"metric": metric, "history": history, "forecast": forecast,
            "fields": tuple(k for k in (history_key, forecast_key) if k)}


def _thin(points: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """Evenly spaced points, always keeping the last: display only, the PNG shows every point."""
    if len(points) <= keep:
        return points
    step = len(points) / keep
    picked = [points[int(i * step)] for i in range(keep - 1)] + [points[-1]]
    return picked


def forecast_chart(result: Any) -> dict[str, Any] | None:
    """The data_visualization block for a forecast, within Slack's shape limits (≤ 20 categories,
    labels ≤ 20 chars, title ≤ 50 chars, ≤ 6 series); None for results that are not forecasts."""
    found = forecast_series(result)
    if found is None:
        return None
    history = found["history"][-MAX_HISTORY_POINTS:]
    forecast = _thin(found["forecast"], MAX_CATEGORIES - len(history))
    categories = [p["label"] for p in history + forecast]
    series = []
    if history:
        series.append({"name": "History", "data": [{"label": p["label"], "value": round(p["value"], 2)} for p in history]})
    series.append({"name": "Forecast", "data": [{"label": p["label"], "value": round(p["value"], 2)} for p in forecast]})
    for name, key in (("Lower 80%", "lower"), ("Upper 80%", "upper")):
        bound = [{"label": p["label"], "value": round(p[key], 2)} for p in forecast if p[key] is not None]
        if bound:
            series.append({"name": name, "data": bound})
    metric = found["metric"].replace("_", " ")
    return {
        "type": "data_visualization",
        "title": f"{metric.capitalize()} forecast"[:50],
        "chart": {"type": "line", "series": series,
                  "axis_config": {"categories": categories, "x_label": "Period", "y_label": metric[:20]}},
    }


def forecast_png(result: Any) -> bytes | None:
    """The same forecast as a PNG (every point, shaded interval), for the `invalid_blocks` fallback."""
    found = forecast_series(result)
    if found is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure  # Figure directly: no pyplot global state across threads

    fig = Figure(figsize=(8, 3.6), dpi=100)
    ax = fig.add_subplot()
    hist, fc = found["history"], found["forecast"]
    xs_h = list(range(len(hist)))
    xs_f = list(range(len(hist), len(hist) + len(fc)))
    if hist:
        ax.plot(xs_h, [p["value"] for p in hist], color="#1f77b4", label="History")
    ax.plot(xs_f, [p["value"] for p in fc], color="#ff7f0e", label="Forecast")
    if all(p["lower"] is not None and p["upper"] is not None for p in fc):
        ax.fill_between(xs_f, [p["lower"] for p in fc], [p["upper"] for p in fc], color="#ff7f0e",
                        alpha=0.2, label="80% interval")
    labels = [p["label"] for p in hist + fc]
    step = max(1, len(labels) // 8)
    ax.set_xticks(list(range(0, len(labels), step)), labels[::step], rotation=30, fontsize=7)
    ax.set_title(f"{found['metric'].replace('_', ' ').capitalize()} forecast")
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()
