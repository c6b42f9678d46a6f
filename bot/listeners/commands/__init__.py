"""Slash commands: /churn-check, /segment-info, /forecast, /customer-digest."""
from bot.listeners.commands import churn_check, customer_digest, forecast, segment_info


def register(app, deps) -> None:
    churn_check.register(app, deps)
    segment_info.register(app, deps)
    forecast.register(app, deps)
    customer_digest.register(app, deps)
