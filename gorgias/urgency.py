"""Urgency from the customer's words: cancellation, address change, damaged or missing item,
late delivery, refund, chargeback. Cheap patterns on purpose: the agent sees the reasons."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

# (reason, level, pattern). Time-critical before fulfilment: cancellation and address change.
_RULES: list[tuple[str, str, re.Pattern]] = [
    ("cancellation request", "high", re.compile(r"\b(cancel+(ed|ing|ation)?|don'?t ship|stop (the|my) order)\b", re.I)),
    ("address change", "high", re.compile(
        r"\b((change|update|wrong|correct|new)\s+(my\s+|the\s+)?(shipping\s+|delivery\s+)?address|"
        r"address\s+(change|is wrong|was wrong)|moved house|ship (it )?to a different address)\b", re.I)),
    ("chargeback or dispute", "high", re.compile(r"\b(chargeback|dispute|my bank|paypal claim|lawyer|trading standards)\b", re.I)),
    ("damaged item", "high", re.compile(r"\b(damaged|broken|torn|ripped|defective|faulty|stained|smashed|arrived (wet|crushed))\b", re.I)),
    ("missing item", "high", re.compile(
        r"\b(missing|never (arrived|received|came)|not (arrived|received)|didn'?t (arrive|receive|get)|"
        r"haven'?t (received|got)|lost (in the post|parcel|package)|wrong item|incomplete order)\b", re.I)),
    ("late delivery", "normal", re.compile(r"\b(late|delayed|still waiting|where is my (order|parcel|package)|tracking)\b", re.I)),
    ("refund request", "normal", re.compile(r"\b(refund|money back|return(ing)? (it|this|the|my))\b", re.I)),
]


@dataclass(frozen=True)
class Urgency:
    level: str                       # high | normal | low
    reasons: list[str] = field(default_factory=list)

    @property
    def needs_compensation_review(self) -> bool:
        """A service failure on our side: the agent should weigh compensation whoever the customer is."""
        return bool({"damaged item", "missing item"} & set(self.reasons))


def assess_urgency(text: str) -> Urgency:
    reasons = [reason for reason, _level, pattern in _RULES if pattern.search(text or "")]
    levels = {level for reason, level, _p in _RULES if reason in reasons}
    if "high" in levels:
        return Urgency("high", reasons)
    return Urgency("normal" if reasons else "low", reasons)
