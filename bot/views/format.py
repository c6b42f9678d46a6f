"""Turning typed result values into short display strings, and the guard that keeps personal
fields (names, emails, phones, addresses, the store's own ids) out of anything shown in Slack."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

# Field names that could carry personal data; results for chat should not have them, but a
# renderer that drops them anyway means one tool's mistake cannot leak into a channel.
_PII_MARKERS = ("email", "phone", "address", "first_name", "last_name", "full_name", "customer_name",
                "store_customer_id", "street", "zip", "postcode", "postal", "pii")
_PERCENT_MARKERS = ("probability", "rate", "share", "ratio", "membership", "churn", "coverage", "pct", "mape")
_NAME_KEYS = ("name", "title", "segment", "label", "public_id", "sku")
_MONEY_MARKERS = ("revenue", "value", "clv", "spend", "amount", "aov", "order_value", "at_stake", "at_risk")


def is_personal_field(key: str) -> bool:
    key = key.lower()
    return any(marker in key for marker in _PII_MARKERS)


def humanize(key: str) -> str:
    text = key.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def format_value(value: Any, key: str = "") -> str:
    """Compact display of one value; probabilities as percents, money with thousands separators."""
    low = key.lower()
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float):
        if any(m in low for m in _PERCENT_MARKERS) and "value" not in low and -1.0 <= value <= 1.0:
            return f"{value:.0%}" if abs(value) >= 0.1 else f"{value:.1%}"
        if any(m in low for m in _MONEY_MARKERS) or abs(value) >= 1000:
            return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.2f}"
        return f"{value:,.2f}" if abs(value) < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict) and key and any(k in value for k in _NAME_KEYS) and _in_list(key):
        # a record inside a list cell: its name says enough; the details have their own answers
        return str(next(value[k] for k in _NAME_KEYS if k in value))
    if isinstance(value, dict):
        parts = [f"{k}: {format_value(v, str(k))}" for k, v in value.items() if not is_personal_field(str(k))]
        return "; ".join(parts)
    if isinstance(value, (list, tuple, set)):
        return ", ".join(format_value(v, key + "[]") for v in value)
    return str(value)


def _in_list(key: str) -> bool:
    return key.endswith("[]")


def plain(value: Any) -> Any:
    """A pydantic model (or anything) as plain Python data."""
    dump = getattr(value, "model_dump", None)
    return dump() if callable(dump) else value
