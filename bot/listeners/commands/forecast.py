"""/forecast [metric] [period]: a forecast with its interval, drawn as a native line chart."""
from __future__ import annotations

import re

from bot.listeners.commands.runner import CommandError, ToolCalls, register_command

METRICS = {
    "revenue": "revenue", "sales": "revenue", "rev": "revenue",
    "orders": "orders", "order": "orders",
    "customers": "active_customers", "active": "active_customers", "active_customers": "active_customers",
    "aov": "average_order_value", "average_order_value": "average_order_value", "basket": "average_order_value",
}
_UNITS = {"d": "days", "day": "days", "days": "days", "w": "weeks", "wk": "weeks", "week": "weeks",
          "weeks": "weeks", "m": "months", "mo": "months", "month": "months", "months": "months",
          "y": "years", "yr": "years", "yrs": "years", "year": "years", "years": "years"}
_NAMED = {"next week": (1, "weeks"), "next month": (1, "months"), "next quarter": (3, "months"),
          "quarter": (3, "months"), "next year": (12, "months"), "year": (12, "months"),
          "month": (1, "months"), "week": (1, "weeks")}
_AMOUNT = re.compile(r"^(?:next\s+)?(\d{1,3})\s*([a-z]+)$")
LIMITS = {"days": 730, "weeks": 104, "months": 24, "years": 2}


def parse_period(text: str) -> tuple[int, str]:
    text = " ".join(text.lower().split())
    if text in _NAMED:
        return _NAMED[text]
    match = _AMOUNT.match(text)
    if not match or match.group(2) not in _UNITS:
        raise CommandError(f"I don't understand the period {text!r}: try `90d`, `12w`, `6m`, `2 years` or `next quarter`.")
    amount, unit = int(match.group(1)), _UNITS[match.group(2)]
    if not 1 <= amount <= LIMITS[unit]:
        raise CommandError(f"The period {text!r} is out of range: 1 to {LIMITS[unit]} {unit}.")
    if unit == "years":
        # The forecast tool counts in days, weeks or months; two years is its 24-month limit.
        return amount * 12, "months"
    return amount, unit


def parse(text: str) -> ToolCalls:
    words = text.lower().split()
    metric = "revenue"
    if words and words[0] in METRICS:
        metric = METRICS[words.pop(0)]
    elif words and not words[0][0].isdigit() and " ".join(words) not in _NAMED and words[0] != "next":
        raise CommandError(f"Unknown metric {words[0]!r}: use revenue, orders, customers or aov.")
    horizon, unit = parse_period(" ".join(words)) if words else (90, "days")
    return [("forecast_metrics", {"metric": metric, "horizon": horizon, "unit": unit})]


def register(app, deps) -> None:
    register_command(app, deps, "/forecast", parse)
