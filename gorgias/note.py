"""The internal note, as HTML (what agents see in Gorgias) and plain text (body_text). Internal to
the store's helpdesk, so it may name the customer. Ends with the marker our loop guard looks for."""
from __future__ import annotations

from dataclasses import dataclass
from html import escape

from gorgias.draft import Draft
from gorgias.facts import CustomerFacts
from gorgias.filters import NOTE_MARKER
from gorgias.recommend import Recommendation
from gorgias.resolve import Resolution
from gorgias.sources import DraftStyle
from gorgias.urgency import Urgency


@dataclass(frozen=True)
class Note:
    html: str
    text: str
    urgent: bool = False


def _money(value: float | None) -> str:
    return "—" if value is None else f"{value:,.2f}"


def _fact_lines(facts: CustomerFacts) -> list[tuple[str, str]]:
    lines = [("Customer", f"{facts.name or 'name not on file'} · {facts.public_id or facts.customer_id}")]
    if facts.value_tier:
        lines.append(("Value tier", facts.value_tier))
    lines.append(("Lifetime value", f"{_money(facts.lifetime_value)} over {facts.orders} order(s)"
                  + (f", average {_money(facts.average_order)}" if facts.average_order is not None else "")))
    if facts.last_order_on:
        since = f" ({facts.days_since_last_order} days before the latest data)" \
            if facts.days_since_last_order is not None else ""
        lines.append(("Last order", f"{facts.last_order_on:%Y-%m-%d}{since}"))
    if facts.churn_probability is not None:
        reasons = f" — {'; '.join(facts.churn_reasons)}" if facts.churn_reasons else ""
        lines.append(("Churn risk", f"{facts.churn_probability:.0%} ({facts.risk_level or 'unrated'}){reasons}"))
    if facts.segments:
        lines.append(("Segments", ", ".join(f"{axis}: {name}" for axis, name in sorted(facts.segments.items()))))
    if facts.archetype:
        lines.append(("Archetype", facts.archetype))
    if facts.open_risks:
        lines.append(("Open risks", "; ".join(facts.open_risks)))
    return lines


def render_note(event_id: int, facts: CustomerFacts | None, resolution: Resolution, urgency: Urgency,
                recommendation: Recommendation, draft: Draft, style: DraftStyle) -> Note:
    html: list[str] = []
    text: list[str] = []

    def heading(title: str) -> None:
        html.append(f"<p><strong>{escape(title)}</strong></p>")
        text.append(f"\n{title}")

    def bullets(items: list[str]) -> None:
        html.append("<ul>" + "".join(f"<li>{escape(i)}</li>" for i in items) + "</ul>")
        text.extend(f"- {i}" for i in items)

    if facts is None:
        heading("Customer Intelligence — customer not found")
        looked = ", ".join(resolution.tried) if resolution.tried else "no email, phone or store id in the ticket"
        bullets([f"No match in the store's order history (looked for: {looked}).",
                 "Treat as a new or guest customer until they give an order number or checkout email."])
    else:
        heading(f"Customer Intelligence — matched by {resolution.matched_by}")
        bullets([f"{label}: {value}" for label, value in _fact_lines(facts)])
        if facts.recent_orders:
            heading("Recent orders")
            bullets([f"{o.order_id} · {o.ordered_on:%Y-%m-%d} · {_money(o.total)} · {o.items} item(s)"
                     + (f" · {', '.join(o.categories)}" if o.categories else "")
                     + (" · return" if o.kind == "return" else "") for o in facts.recent_orders])

    heading(f"Urgency: {urgency.level}")
    bullets([f"Detected: {', '.join(urgency.reasons)}" if urgency.reasons else "Nothing urgent detected",
             f"Channel: {style.label}"])

    heading("Recommendation for the agent (internal, do not quote to the customer)")
    items = list(recommendation.next_steps)
    if recommendation.offer_compensation:
        items.append(f"Consider compensation: up to {recommendation.discount_percent:g}% for this customer's tier "
                     f"({recommendation.why}).")
    elif facts is not None:
        items.append(f"No compensation suggested ({recommendation.why}).")
    bullets(items or ["Reply normally."])

    marked = "drafted by Claude — review before sending" if draft.by == "claude" else \
        "TEMPLATE DRAFT (no AI) — built from the facts above; edit before sending"
    heading(f"Suggested reply ({marked})")
    if draft.note:
        html.append(f"<p><em>{escape(draft.note)}</em></p>")
        text.append(f"({draft.note})")
    html.append("<blockquote>" + escape(draft.text).replace("\n", "<br>") + "</blockquote>")
    text.append(draft.text)

    footer = f"Customer Intelligence Bot · {NOTE_MARKER}{event_id} · facts from {facts.source if facts else 'no customer match'}"
    html.append(f"<p><small>{escape(footer)}</small></p>")
    text.append(f"\n{footer}")
    return Note("\n".join(html), "\n".join(text).strip(), urgency.level == "high")
