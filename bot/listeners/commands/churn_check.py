"""/churn-check [customer]: one customer's risk card, or the customers most at risk."""
from __future__ import annotations

import re

from bot.listeners.commands.runner import CommandError, ToolCalls, register_command

_CUSTOMER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


def parse(text: str) -> ToolCalls:
    text = text.strip()
    if not text:
        return [("analyze_customers", {"sort_by": "churn_risk", "limit": 10})]
    if not _CUSTOMER.match(text):
        raise CommandError(f"{text[:80]!r} is not a customer id: use `C-XXXXXXXX` or the store's own customer id.")
    return [("lookup_customer", {"customer": text})]


def register(app, deps) -> None:
    register_command(app, deps, "/churn-check", parse)
