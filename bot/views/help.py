"""The help text every command prints for `help`, and the examples the Home tab and the
assistant suggest."""
from __future__ import annotations

from bot.views import blocks as bk

SUGGESTED_QUESTIONS = (
    "Who is most likely to churn?",
    "What are our biggest customer archetypes?",
    "Forecast revenue for the next 90 days",
    "Which products do repeat customers buy?",
    "Build a win-back campaign",
)

COMMAND_HELP = {
    "/churn-check": ("/churn-check [customer]",
                     "One customer's churn risk card (`C-1A2B3C4D` or the store's customer id). "
                     "With no customer: the customers most at risk and the value at stake."),
    "/segment-info": ("/segment-info [segment|archetype]",
                      "A segment (`frequency:frequent` or its name) or an archetype (`A-1f3c9e` or its "
                      "name). With no name: the axes and the largest archetypes."),
    "/forecast": ("/forecast [metric] [period]",
                  "Forecast with an 80% interval. Metrics: revenue, orders, active_customers, "
                  "average_order_value. Period: `90d`, `12w`, `6m`, `next quarter`… (default revenue, 90 days)."),
    "/customer-digest": ("/customer-digest weekly|daily|off [#channel]",
                         "Post the customer review to this channel (or the one named) every week or day — "
                         "last week against the week before and a year before, the at-risk customers with "
                         "most at stake, how customers changed, the forecast — with alerts worth "
                         "interrupting for (a whale turning at risk, revenue outside the forecast, a return "
                         "spike, stale data), or stop both."),
}


def command_help_blocks(command: str) -> list[bk.Block]:
    usage, text = COMMAND_HELP[command]
    return bk.sections(f"*`{usage}`*\n{text}\n`{command} help` shows this.")


def help_blocks() -> list[bk.Block]:
    lines = ["*Ask me about your customers* — mention me in a channel or message me directly:"]
    lines += [f"• {q}" for q in SUGGESTED_QUESTIONS]
    lines.append("")
    lines += [f"*`{usage}`* — {text}" for usage, text in COMMAND_HELP.values()]
    lines.append("\nCustomers are shown by pseudonymous ids (`C-XXXXXXXX`); names and contact details never appear here.")
    return bk.sections("\n".join(lines))
