"""Which ticket messages get a note, and why not: every decision carries a reason for the log.

Loop guards (agent messages, internal notes, our own notes) always apply; a `force-ai` tag
overrides every other filter.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from gorgias.payload import TicketEvent

# Written into every note we post, so a webhook fired by our own note is recognised.
NOTE_MARKER = "cib-note:"

_NO_REPLY = re.compile(r"(^|[._+-])(no-?reply|do-?not-?reply|donotreply|mailer-daemon|postmaster|bounce[s]?)([._+-]|@)",
                       re.IGNORECASE)
_AUTO_REPLY_SUBJECT = re.compile(
    r"\b(auto(matic)?[- ]?(reply|response)|out of (the )?office|ooo\b|away from (the )?office|"
    r"on vacation|delivery status notification|undeliverable|mail delivery failed)", re.IGNORECASE)
_AUTO_REPLY_BODY = re.compile(
    r"\b(this is an automated (message|reply|response)|i am (currently )?out of (the )?office|"
    r"i'?m (currently )?out of (the )?office|automatic reply)", re.IGNORECASE)


@dataclass(frozen=True)
class Decision:
    process: bool
    reason: str


def decide(event: TicketEvent, settings) -> Decision:
    ticket, message = event.ticket, event.message
    text = message.text
    # Loop guards first: never answer an agent, a note, or ourselves, whatever the tags say.
    if NOTE_MARKER in (message.body_text or "") or NOTE_MARKER in (message.body_html or ""):
        return Decision(False, "our own note")
    if (message.channel or "").lower() == "internal-note" or not message.public:
        return Decision(False, "internal note")
    if message.from_agent:
        return Decision(False, "message from an agent")

    tags = set(ticket.tags)
    forced = sorted(tags & set(settings.gorgias_force_tags))
    if forced:
        return Decision(True, f"forced by tag {forced[0]!r}")
    skip = sorted(tags & set(settings.gorgias_skip_tags))
    if skip:
        return Decision(False, f"tag {skip[0]!r}")
    if ticket.spam or (ticket.status or "").lower() == "spam":
        return Decision(False, "spam ticket")
    if (ticket.status or "").lower() == "closed":
        return Decision(False, "closed ticket")

    sender = _sender_address(event)
    if sender and _NO_REPLY.search(sender):
        return Decision(False, f"no-reply sender {sender}")
    subject = message.subject or ticket.subject or ""
    if _AUTO_REPLY_SUBJECT.search(subject) or _AUTO_REPLY_BODY.search(text[:500]):
        return Decision(False, "auto-reply")
    marketing = next((frag for frag in settings.gorgias_marketing_senders if frag and frag in sender), None)
    if marketing:
        return Decision(False, f"marketing sender {sender} (matches {marketing!r})")
    if not text:
        return Decision(False, "empty message")
    return Decision(True, "customer message")


def _sender_address(event: TicketEvent) -> str:
    message = event.message
    candidates = [
        message.sender.email if message.sender else None,
        message.source.from_.address if message.source and message.source.from_ else None,
    ]
    return next((c.strip().lower() for c in candidates if c and "@" in c), "")
