"""The weekly customer review as Block Kit: figures against the week before and a year before, the
at-risk customers who matter most, how customers changed, the forecast chart. Pure functions."""
from __future__ import annotations

from typing import Any

from bot.views import blocks as bk
from bot.views.answer import SHOW_MORE, tool_call_value
from bot.views.charts import forecast_chart
from bot.views.metrics import show

_KINDS = {"net_revenue": "money", "average_order_value": "money", "return_rate": "rate"}
_LABELS = {"net_revenue": "Net revenue", "orders": "Orders", "average_order_value": "Average order value",
           "new_customers": "New customers", "active_customers": "Customers", "return_rate": "Return rate"}
_SIGNALS = {"pace_slowing": "pace slowing", "basket_shrinking": "basket shrinking",
            "category_switch": "category switch", "discount_dependence": "discount dependence",
            "return_spike": "return spike"}
# The full lists behind the review, answered in its thread by the "show more" action (one action id
# each: ids must differ within a block).
FULL_LISTS = (("All at-risk customers", "at_risk", {"lifecycle": "at_risk", "sort_by": "value_at_stake", "limit": 25}),
              ("Lapsed customers", "lapsed", {"lifecycle": "lapsed", "sort_by": "value", "limit": 25}))


def _change(figure: dict, against: str, pct: str) -> str:
    """A rate changes by points (6.8% against 5.0%: +1.8 pts), everything else by percent."""
    if _KINDS.get(figure["figure"]) == "rate":
        if figure["last_week"] is None or figure[against] is None:
            return "–"
        return f"{(figure['last_week'] - figure[against]) * 100:+.1f} pts"
    return show(figure[pct], "change_pct")


def review_blocks(review: Any) -> list[bk.Block]:
    data = review.model_dump(mode="json") if hasattr(review, "model_dump") else dict(review)
    out: list[bk.Block] = [bk.header(f"Weekly customer review · {data['week_start']} to {data['week_end']}")]
    out.extend(bk.sections(data["summary"]))
    rows = [[_LABELS[f["figure"]], show(f["last_week"], _KINDS.get(f["figure"], "count")),
             show(f["week_before"], _KINDS.get(f["figure"], "count")), _change(f, "week_before", "change_pct"),
             show(f["same_week_last_year"], _KINDS.get(f["figure"], "count")),
             _change(f, "same_week_last_year", "change_on_last_year_pct")] for f in data["figures"]]
    out.extend(bk.tables(["Figure", "Last week", "Week before", "Change", "Same week last year", "Change"], rows,
                         [False, True, True, True, True, True]))
    if data["at_risk"]:
        out.append(bk.context(f"*At risk: {data['at_risk_customers']:,} customers; most at stake*"))
        out.extend(bk.tables(["Customer", "Tier", "Lifetime value", "Value at stake", "Days since last order"],
                             [[c["public_id"], c["value_tier"] or "–", show(c["lifetime_value"], "money"),
                               show(c["value_at_stake"], "money"), show(c["days_since_last_order"], "count")]
                              for c in data["at_risk"]], [False, False, True, True, True]))
    if data.get("lapsed"):
        out.append(bk.context(f"*Lapsed since the run of {data['compared_with_run_of']}: "
                              f"{data['lapsed_customers']:,} customers, lifetime value "
                              f"{show(data['lapsed_lifetime_value'], 'money')}; most valuable*"))
        out.extend(bk.tables(["Customer", "Tier", "Lifetime value", "Days since last order"],
                             [[c["public_id"], c["value_tier"] or "–", show(c["lifetime_value"], "money"),
                               show(c["days_since_last_order"], "count")] for c in data["lapsed"]],
                             [False, False, True, True]))
    if data.get("segment_moves"):
        moves = "; ".join(f"{m['axis']}:{m['name']} {m['change']:+,} ({m['members_before']:,} → {m['members_now']:,})"
                          for m in data["segment_moves"])
        out.append(bk.context(f"*Segments that moved most since {data['compared_with_run_of']}:* {moves}"))
    if data.get("changes_by_signal"):
        signals = ", ".join(f"{_SIGNALS.get(k, k)} {v:,}" for k, v in data["changes_by_signal"].items())
        out.append(bk.context(f"*Changed in the last 2 weeks:* {data['changed_customers']:,} regular customers — {signals}"))
    if data.get("forecast"):
        chart = forecast_chart(data["forecast"])
        if chart is not None:
            out.append(chart)
        out.append(bk.context(f"Next {data['forecast_weeks']} weeks: about {show(data['forecast_total'], 'money')} "
                              f"(80% interval {show(data['forecast_lower'], 'money')} – "
                              f"{show(data['forecast_upper'], 'money')})"))
    if data.get("notes"):
        out.append(bk.context(*data["notes"][: bk.MAX_CONTEXT_ELEMENTS]))
    out.append(bk.actions([bk.button(text, f"{SHOW_MORE}_{name}", tool_call_value("analyze_customers", arguments))
                           for text, name, arguments in FULL_LISTS]))
    return out
