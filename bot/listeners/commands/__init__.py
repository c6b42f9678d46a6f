"""Slash commands: /churn-check, /segment-info, /forecast."""
from bot.listeners.commands import churn_check, forecast, segment_info


def register(app, deps) -> None:
    churn_check.register(app, deps)
    segment_info.register(app, deps)
    forecast.register(app, deps)
