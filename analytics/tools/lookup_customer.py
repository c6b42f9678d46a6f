"""lookup_customer: one customer's value, churn risk, segments, archetype and recent orders."""
from __future__ import annotations

from pydantic import Field

from analytics.core import CUSTOMER_HELP, ToolContext, ToolInput, ToolResult, require_current_run
from analytics.data_minimums import thin_data_note
from analytics.enrichment import CustomerContext, customer_context
from analytics.resolve import resolve_customer
from analytics.tools.common import cached, exact_money as money, pct
from analytics.tools.registry import tool


class LookupCustomerInput(ToolInput):
    """One customer's full profile."""

    customer: str = Field(..., min_length=1, max_length=64, description=CUSTOMER_HELP)


class LookupCustomerResult(ToolResult):
    customer: CustomerContext


def describe(c: CustomerContext) -> str:
    parts = [f"{c.public_id} is a {c.value_tier or 'unscored'} customer: {c.orders} order(s), "
             f"lifetime value {money(c.lifetime_value)}"]
    if c.average_order_value is not None:
        parts[0] += f", average order {money(c.average_order_value)}"
    if c.days_since_last_order is not None:
        parts[0] += f", last order {c.days_since_last_order} days ago"
    if c.churn_probability is not None:
        parts.append(f"Churn probability {pct(c.churn_probability)} ({c.risk_level})"
                     + (f": {'; '.join(c.churn_reasons)}" if c.churn_reasons else ""))
    if c.archetype_name:
        parts.append(f"Archetype {c.archetype_name}")
    if not c.has_profile:
        parts.append("Not scored by the current discovery run yet")
    return ". ".join(parts) + "."


@tool("lookup_customer",
          "Everything about ONE customer: orders, lifetime value, average order, last order, value tier, "
          "churn probability with reasons, expected purchases, predicted 12-month value, dominant behavioural "
          "segments, archetype, recent orders and open risks. Use for 'tell me about C-1A2B3C4D', "
          "'is customer 12345 at risk?'.",
      title="Customer", card="customer")
def lookup_customer(ctx: ToolContext, params: LookupCustomerInput) -> LookupCustomerResult:
    run = require_current_run(ctx)
    customer_id = resolve_customer(ctx, params.customer)

    def compute() -> LookupCustomerResult:
        context = customer_context(ctx, customer_id, run=run)
        thin = thin_data_note(ctx, run) if context.churn_probability is not None else None
        summary = describe(context) + (f" {thin}" if thin else "")
        return LookupCustomerResult(tool="lookup_customer", summary=summary, customer=context)

    return cached(ctx, "customer", run.run_id, str(customer_id), compute, LookupCustomerResult)
