"""One alert as Block Kit: what happened and why in one sentence with its figures, a button that
opens the figures behind it (in the alert's thread) and a hint. Pure: a recorded alert in, blocks out."""
from __future__ import annotations

from typing import Any

from bot.views import blocks as bk
from bot.views.answer import SHOW_MORE, tool_call_value

TITLES = {
    "customer_at_risk": ("🚨", "A top customer is turning at risk", "See their profile"),
    "revenue_outside_forecast": ("📉", "Last week's revenue is outside the forecast", "See the week's figures"),
    "return_spike": ("↩️", "Returns spiked", "See returns by item"),
    "discovery_failed": ("⚠️", "Discovery failed", None),
    "discovery_stale": ("⏰", "The customer models are getting old", None),
    "data_stale": ("⏰", "No new orders", None),
}
HINTS = {
    "customer_at_risk": "Ask me “which whales are at risk?” or use /churn-check with the id.",
    "revenue_outside_forecast": "Ask me for the revenue forecast, or compare the week with the one before.",
    "return_spike": "Ask me “return rate by category last week”.",
    "discovery_failed": "The server log has the error; `python app.py discover` runs discovery now.",
    "discovery_stale": "Check the server's discovery schedule (DISCOVERY_CRON) and its log.",
    "data_stale": "Check the order import (`python app.py ingest`) or the Shopify sync.",
}


def alert_blocks(alert: Any) -> list[bk.Block]:
    """`alert`: a mapping with kind, reason and more (the tool call behind the button, or empty)."""
    emoji, title, button = TITLES.get(alert["kind"], ("🔔", "Alert", None))
    out: list[bk.Block] = bk.sections(f"{emoji} *{title}*\n{alert['reason']}")
    more = alert.get("more") or {}
    if button and more.get("tool"):
        value = tool_call_value(more["tool"], more.get("arguments") or {})
        out.append(bk.actions([bk.button(button, SHOW_MORE, value)]))
    out.append(bk.context(HINTS.get(alert["kind"], "") + " Alerts come with the customer review: "
                          "`/customer-digest off` stops both."))
    return out
