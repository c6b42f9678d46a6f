"""Pydantic models of what a Gorgias HTTP integration posts, and their normalisation into one
`TicketEvent` (a ticket plus the one message to act on).

Gorgias lets the store template the body, so both documented shapes are accepted:
`{"ticket": {..., "messages": [...]}}` (or the bare ticket) and `{"ticket": {...}, "message": {...}}`.
Templated values often arrive as strings ("123", "true", ""), so models are lenient about that.
"""
from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sql.safe_input import BadBody, loads_bounded

# Gorgias ids are 64-bit; anything wider cannot be stored (bigint) and is not a real id.
Id = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]


class PayloadError(ValueError):
    """The body is not a ticket event we can act on; the message says which field is wrong.
    `status` is the HTTP answer: 400 for a body that is not JSON, 422 for JSON of the wrong shape."""

    def __init__(self, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.status = status


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    @model_validator(mode="before")
    @classmethod
    def _blank_is_missing(cls, data: Any) -> Any:
        # An unfilled template variable renders as "" (or "None"); treat it as absent.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and v.strip() in ("", "None", "null"))}
        return data


class Person(_Lenient):
    id: Id | None = None
    email: str | None = None
    name: str | None = None


class Address(_Lenient):
    address: str | None = None
    name: str | None = None


class MessageSource(_Lenient):
    type: str | None = None
    from_: Address | None = Field(None, alias="from")
    to: list[Address] = Field(default_factory=list)

    @field_validator("from_", mode="before")
    @classmethod
    def _address(cls, value: Any) -> Any:
        return {"address": value} if isinstance(value, str) else value

    @field_validator("to", mode="before")
    @classmethod
    def _addresses(cls, value: Any) -> Any:
        if value is None:
            return []
        if isinstance(value, (str, dict)):
            value = [value]
        return [{"address": v} if isinstance(v, str) else v for v in value]


class Message(_Lenient):
    id: Id | None = None
    ticket_id: Id | None = None
    channel: str | None = None
    via: str | None = None
    from_agent: bool = False
    public: bool = True
    sender: Person | None = None
    source: MessageSource | None = None
    subject: str | None = None
    body_text: str | None = None
    body_html: str | None = None
    stripped_text: str | None = None
    created_datetime: str | None = None

    @property
    def text(self) -> str:
        """The customer's words: stripped text (quoted history removed) when Gorgias gives it."""
        return (self.stripped_text or self.body_text or _strip_html(self.body_html or "")).strip()


class CustomerChannel(_Lenient):
    type: str | None = None
    address: str | None = None


class Customer(_Lenient):
    id: Id | None = None
    email: str | None = None
    name: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    phone: str | None = None
    external_id: str | None = None
    channels: list[CustomerChannel] = Field(default_factory=list)
    # {integration_id: {"__integration_type__": "shopify", "customer": {"id": ...}}}
    integrations: dict[str, Any] = Field(default_factory=dict)

    @field_validator("external_id", mode="before")
    @classmethod
    def _id_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("integrations", mode="before")
    @classmethod
    def _integrations(cls, value: Any) -> Any:
        if isinstance(value, list):  # some templates render it as a list
            return {str(i): v for i, v in enumerate(value)}
        return value or {}

    def store_ids(self) -> list[str]:
        """Ids the store may know this customer by: external_id, then e-commerce integration ids."""
        ids = [self.external_id] if self.external_id else []
        for data in self.integrations.values():
            if isinstance(data, dict):
                found = (data.get("customer") or {}).get("id") if isinstance(data.get("customer"), dict) else None
                if found is not None:
                    ids.append(str(found))
        return list(dict.fromkeys(ids))


class Ticket(_Lenient):
    id: Id | None = None
    status: str | None = None
    spam: bool = False
    channel: str | None = None
    via: str | None = None
    subject: str | None = None
    priority: str | None = None
    tags: list[str] = Field(default_factory=list)
    customer: Customer | None = None
    messages: list[Message] = Field(default_factory=list)

    @field_validator("tags", mode="before")
    @classmethod
    def _tag_names(cls, value: Any) -> Any:
        # Gorgias gives [{"name": ...}]; templates may give ["a", "b"] or "a, b".
        if value is None:
            return []
        if isinstance(value, str):
            # A template that rendered the tag objects themselves gives "[{'name': 'vip'}, ...]".
            names = re.findall(r"""['"]name['"]\s*:\s*['"]([^'"]+)['"]""", value)
            value = names or value.split(",")
        return [str(t.get("name", "") if isinstance(t, dict) else t).strip().lower()
                for t in value if (t.get("name") if isinstance(t, dict) else t)]


class TicketEvent(BaseModel):
    """One ticket message to act on: the idempotency key is (ticket_id, message_id)."""

    model_config = ConfigDict(extra="forbid")
    ticket_id: int
    message_id: int
    ticket: Ticket
    message: Message


def parse_event(body: bytes) -> TicketEvent:
    """Validate a webhook body into a TicketEvent, or raise PayloadError naming what is wrong."""
    try:
        data = _without_nuls(loads_bounded(body))
    except BadBody as exc:
        raise PayloadError(str(exc), status=400) from None
    if not isinstance(data, dict):
        raise PayloadError(f"body must be a JSON object, got {type(data).__name__}")
    ticket_data = data.get("ticket", data if "messages" in data else None)
    if not isinstance(ticket_data, dict):
        raise PayloadError("body needs a 'ticket' object (or a bare ticket with 'messages')")
    try:
        ticket = Ticket.model_validate(ticket_data)
        message = Message.model_validate(data["message"]) if data.get("message") is not None else None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise PayloadError(f"invalid field {where!r}: {first['msg']} (got {str(first.get('input'))[:80]!r})") from None
    if message is None:
        if not ticket.messages:
            raise PayloadError("no 'message' and the ticket has no 'messages'")
        # The newest message is the one that triggered the rule.
        message = max(ticket.messages, key=lambda m: (m.created_datetime or "", m.id or 0))
    ticket_id = ticket.id or message.ticket_id
    if ticket_id is None:
        raise PayloadError("missing ticket id ('ticket.id' or 'message.ticket_id')")
    if message.id is None:
        raise PayloadError("missing message id ('message.id')")
    if message.ticket_id is not None and ticket.id is not None and message.ticket_id != ticket.id:
        raise PayloadError(f"message.ticket_id {message.ticket_id} does not match ticket.id {ticket.id}")
    return TicketEvent(ticket_id=ticket_id, message_id=message.id, ticket=ticket, message=message)


def _without_nuls(value: Any) -> Any:
    """NUL characters removed from every string and key (PostgreSQL text cannot hold them; no
    real message needs them). Depth is bounded by loads_bounded, so recursion is safe."""
    if isinstance(value, str):
        return value.replace("\x00", "") if "\x00" in value else value
    if isinstance(value, dict):
        return {_without_nuls(k): _without_nuls(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nuls(v) for v in value]
    return value


def _strip_html(html: str) -> str:
    from html import unescape

    text = re.sub(r"(?is)<(script|style).*?</\1>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>|</p>|</div>", "\n", text)
    return unescape(re.sub(r"<[^>]+>", " ", text))
