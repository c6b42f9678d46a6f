"""What the note tells the agent to do: the next steps for the message's urgency, and whether to
offer compensation with the customer's tier discount (settings.compensation_table). This is for
the agent only; the drafted reply never promises it."""
from __future__ import annotations

from dataclasses import dataclass, field

from gorgias.facts import CustomerFacts
from gorgias.urgency import Urgency

_NEXT_STEPS = {
    "cancellation request": "Cancellation requested: check whether the latest order has shipped before replying.",
    "address change": "Address change: update the shipping address before the order is fulfilled.",
    "damaged item": "Damaged item: ask for a photo and offer a replacement or refund per policy.",
    "missing item": "Missing item: check the tracking and the packing record before replying.",
    "late delivery": "Late delivery: check the carrier's tracking and give a realistic date.",
    "refund request": "Refund request: confirm the order and the return window.",
    "chargeback or dispute": "Dispute or chargeback mentioned: loop in whoever handles payments today.",
}


@dataclass(frozen=True)
class Recommendation:
    offer_compensation: bool
    discount_percent: float | None
    why: str
    next_steps: list[str] = field(default_factory=list)


def tier_discount(settings, lifetime_value: float) -> float:
    """The discount of the highest compensation tier whose threshold the lifetime value reaches."""
    for threshold, percent in settings.compensation_table:
        if lifetime_value >= threshold:
            return percent
    return 0.0


def recommend(settings, facts: CustomerFacts | None, urgency: Urgency) -> Recommendation:
    steps = [_NEXT_STEPS[r] for r in urgency.reasons if r in _NEXT_STEPS]
    if facts is None:
        steps.insert(0, "Customer not found in the order history: ask for the order number or the "
                        "email used at checkout before discussing an order.")
        return Recommendation(False, None, "unknown customer: verify who they are first", steps)
    discount = facts.discount_percent if facts.discount_percent is not None else tier_discount(settings, facts.lifetime_value)
    valuable = (facts.value_tier or "") in ("whale", "vip", "high")
    at_risk = (facts.risk_level or "") in ("high", "critical")
    if urgency.needs_compensation_review:
        why = " and ".join(r for r in urgency.reasons if r in ("damaged item", "missing item"))
        return Recommendation(True, discount, f"{why} on a customer worth {facts.lifetime_value:,.2f}", steps)
    if valuable and at_risk:
        return Recommendation(True, discount, f"{facts.value_tier} customer at {facts.risk_level} churn risk", steps)
    if valuable and "late delivery" in urgency.reasons:
        return Recommendation(True, discount, f"late delivery for a {facts.value_tier} customer", steps)
    return Recommendation(False, discount, "no service failure and no elevated churn risk", steps)
