"""The suggested reply: Claude writes it when a key is set; otherwise (or when Claude fails or
breaks a rule) a template draft from the same facts, clearly marked. Either way the draft uses only
the facts given — no invented order details — and never promises compensation to the customer."""
from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass

from gorgias.facts import CustomerFacts
from gorgias.sources import DraftStyle
from gorgias.urgency import Urgency

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Draft:
    text: str
    by: str                 # claude | template
    note: str = ""          # why the template was used, when Claude was configured


_PROMISE = re.compile(
    r"(\d+\s?%|\bpercent\b|\bdiscount|\bcoupon|\bvoucher|\bpromo(tion)? code|\bstore credit|\bcompensat|"
    r"\bfree (shipping|gift|item)|\b(we|i)('ll| will| can| would be happy to)\s+(refund|reimburse|credit))", re.I)
_ORDER_REF = re.compile(r"(?:#\s?|\border\s+(?:number\s+|no\.?\s+)?#?)([A-Za-z]*\d[\w-]*)", re.I)


def check_draft(text: str, facts: CustomerFacts | None, style: DraftStyle | None = None) -> str | None:
    """Why a draft breaks the rules (promised compensation, unknown order number, far too long
    for the channel), or None."""
    if style is not None:
        sentences = len(re.findall(r"[.!?](\s|$)", text))
        if sentences > style.max_sentences + 1:  # one spare: models like a closing line
            return f"it has {sentences} sentences, too long for {style.label} (at most {style.max_sentences})"
    promise = _PROMISE.search(text)
    if promise:
        return f"it promises compensation ({promise.group(0)!r})"
    known = {o.order_id.lstrip("#").lower() for o in (facts.recent_orders if facts else [])}
    for ref in _ORDER_REF.findall(text):
        if ref.lstrip("#").lower() not in known:
            return f"it mentions order {ref!r}, which is not in the customer's history"
    return None


SYSTEM_PROMPT = """You draft replies for customer-support agents of {store}, an online store.
The agent reviews your draft before anything is sent.
Rules:
- Write in the store's voice: warm, plain, concrete, no filler.
- Use only the facts given. Never invent order numbers, dates, amounts, tracking or policies.
  If a fact you would need is missing, say the agent will check it.
- Never offer or promise a discount, coupon, refund, credit or any compensation; the agent decides that.
- Reply in the customer's language.
- Output only the reply text, nothing else."""


def draft_reply(settings, client, message_text: str, subject: str | None, facts: CustomerFacts | None,
                urgency: Urgency, style: DraftStyle) -> Draft:
    """Claude's draft through `client` (the process's Anthropic client), checked; the template
    draft without a client, when the API fails, or when the draft breaks a rule."""
    if client is None:
        return Draft(template_draft(settings, facts, urgency, style), "template")
    try:
        text = _claude_draft(client, settings, message_text, subject, facts, urgency, style)
    except Exception as exc:  # the API being down must not cost the agent the note
        log.warning("Claude draft failed (%s); using the template draft", type(exc).__name__)
        return Draft(template_draft(settings, facts, urgency, style), "template",
                     f"Claude was unavailable ({type(exc).__name__})")
    problem = check_draft(text, facts, style) if text else "it was empty"
    if problem:
        log.warning("Claude draft rejected: %s", problem)
        return Draft(template_draft(settings, facts, urgency, style), "template", f"Claude's draft was rejected: {problem}")
    return Draft(text, "claude")


def _claude_draft(client, settings, message_text, subject, facts, urgency, style) -> str:
    known = {"first_name": facts.first_name if facts else None, "known_customer": facts is not None}
    if facts:
        known.update(orders=facts.orders, last_order_on=str(facts.last_order_on) if facts.last_order_on else None,
                     recent_orders=[{"order": o.order_id, "date": str(o.ordered_on), "items": o.items,
                                     "categories": o.categories, "kind": o.kind} for o in facts.recent_orders[:3]])
    prompt = (
        f"Write {style.guidance}.\n"
        f"Channel: {style.label}. Detected topics: {', '.join(urgency.reasons) or 'none'}.\n"
        f"Facts you may use (JSON): {json.dumps(known, ensure_ascii=False)}\n"
        f"Subject: {subject or '-'}\n"
        f"Customer's message:\n<<<\n{message_text[:4000]}\n>>>"
    )
    response = client.messages.create(
        model=settings.anthropic_model, max_tokens=500,
        system=SYSTEM_PROMPT.format(store=settings.gorgias_store_name),
        messages=[{"role": "user", "content": prompt}],
    )
    return "".join(getattr(block, "text", "") for block in response.content).strip()


_ACKS = {
    "cancellation request": "I understand you'd like to cancel your order",
    "address change": "I understand the delivery address needs to change",
    "damaged item": "I'm sorry your order arrived damaged",
    "missing item": "I'm sorry something from your order hasn't reached you",
    "late delivery": "I'm sorry your order is taking longer than expected",
    "refund request": "I understand you'd like to return or get your money back for your order",
    "chargeback or dispute": "I understand you've raised a concern about a payment",
}
_NEXT = {
    "cancellation request": "I'm checking right now whether it has left our warehouse",
    "address change": "I'm checking whether it has shipped so we can update the address in time",
    "damaged item": "Could you send a photo of the damage so we can put it right?",
    "missing item": "I'm checking the tracking and our packing record now",
    "late delivery": "I'm checking the carrier's tracking now",
    "refund request": "I'm checking the order details so I can explain the options",
    "chargeback or dispute": "I'm looking into the payment details now",
}


def template_draft(settings, facts: CustomerFacts | None, urgency: Urgency, style: DraftStyle) -> str:
    """A reply assembled from the facts alone: sentence count follows the channel's style."""
    first = facts.first_name if facts else None
    reason = urgency.reasons[0] if urgency.reasons else None
    sentences = [(_ACKS[reason] if reason else "Thanks for getting in touch") + "."]
    last = facts.recent_orders[0] if facts and facts.recent_orders else None
    if last is not None:
        sentences.append(f"I can see your order {last.order_id} from {last.ordered_on:%-d %B %Y}.")
    elif facts is None:
        sentences.append("Could you share your order number or the email address you used at checkout?")
    next_step = _NEXT[reason] if reason else "I'm looking into this for you now"
    sentences.append(next_step if next_step.endswith("?") else next_step + ".")
    if style.max_sentences >= 4:
        if facts is not None and facts.orders > 1:
            sentences.append(f"Thank you for shopping with {settings.gorgias_store_name} again.")
        else:
            sentences.append(f"Thank you for choosing {settings.gorgias_store_name}.")
        sentences.append("I'll get back to you as soon as I have an update.")
    # The phone greeting is itself a spoken sentence, so it counts against the budget.
    budget = style.max_sentences - (1 if style.source == "phone" else 0)
    sentences = sentences[:budget]
    while len(sentences) < style.min_sentences - (1 if style.source == "phone" else 0):
        sentences.append("I'll be in touch shortly.")
    body = " ".join(sentences)
    if style.greeting:
        body = f"Hi {first or 'there'},\n\n{body}" if style.source != "phone" else f"Hi {first or 'there'}, this is {settings.gorgias_store_name} returning your call. {body}"
    if style.sign_off:
        store = settings.gorgias_store_name
        body += "\n\nBest regards,\n" + (f"The {store} team" if store != "our store" else "Customer care")
    return body
