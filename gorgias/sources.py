"""Where a ticket message came from (email, chat, SMS, phone/voicemail, API) and what that means
for the draft: an SMS gets two or three short sentences, an email four to six."""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from gorgias.payload import TicketEvent


@dataclass(frozen=True)
class DraftStyle:
    source: str           # email | chat | sms | phone | api
    label: str            # what the note says, e.g. "voicemail (RingCentral)"
    min_sentences: int
    max_sentences: int
    greeting: bool        # "Hi Ann," fits email; chat and SMS start straight away
    sign_off: bool
    guidance: str         # told to Claude


EMAIL = DraftStyle("email", "email", 4, 6, True, True,
                   "an email reply: greeting, 4-6 sentences, a sign-off")
CHAT = DraftStyle("chat", "chat", 2, 3, False, False,
                  "a live-chat reply: 2-3 short, friendly sentences, no greeting line or sign-off")
SMS = DraftStyle("sms", "SMS", 2, 3, False, False,
                 "an SMS reply: 2-3 short sentences, plain text, no links unless essential, no sign-off")
PHONE = DraftStyle("phone", "phone", 2, 4, True, False,
                   "what the agent says when calling back: 2-4 short spoken sentences")
API = DraftStyle("api", "API", 3, 5, True, True,
                 "a written reply for a message that arrived through the API: 3-5 sentences")

_CHAT_CHANNELS = {"chat", "gorgias_chat", "facebook", "facebook-messenger", "facebook-mention",
                  "instagram", "instagram-direct-message", "instagram-comment", "whatsapp", "twitter",
                  "twitter-direct-message", "yotpo-review"}
_PHONE_PROVIDERS = {"ringcentral": "RingCentral", "aircall": "Aircall", "twilio": "Twilio",
                    "talkdesk": "Talkdesk", "dialpad": "Dialpad", "justcall": "JustCall"}
_EMAIL_CHANNELS = {"email", "contact_form", "contact-form", "help-center", "helpcenter"}


def detect_style(event: TicketEvent) -> DraftStyle:
    message, ticket = event.message, event.ticket
    channel = (message.channel or ticket.channel or "").lower()
    via = (message.via or ticket.via or "").lower()
    source_type = (message.source.type if message.source and message.source.type else "").lower()
    hints = " ".join((channel, via, source_type))

    # Before the phone check: SMS providers (Twilio) also carry calls.
    if channel == "sms" or source_type.startswith("sms") or "sms" in via:
        return SMS
    provider = next((name for key, name in _PHONE_PROVIDERS.items() if key in hints), None)
    if channel in ("phone", "voice") or provider or source_type.startswith(("phone", "voicemail")):
        voicemail = "voicemail" in hints or bool(re.search(r"\bvoice ?mail\b", message.text[:300], re.I))
        kind = "voicemail" if voicemail else "phone call"
        return replace(PHONE, label=f"{kind} ({provider})" if provider else kind)
    if channel in _CHAT_CHANNELS or source_type.startswith(("chat", "gorgias_chat", "facebook", "instagram", "whatsapp")):
        label = "chat" if channel in ("chat", "gorgias_chat", "") else f"chat ({channel})"
        return replace(CHAT, label=label)
    if channel in _EMAIL_CHANNELS or source_type.startswith("email"):
        return EMAIL
    if channel == "api" or via == "api" or source_type == "api":
        return API
    return EMAIL  # Gorgias's default channel; an unknown one reads best as a written reply
