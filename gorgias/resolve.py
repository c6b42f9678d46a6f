"""Which store customer wrote the ticket: the store's id from the payload (`external_id`, the
Shopify integration's customer id), then email, then phone — each normalised."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from gorgias.payload import TicketEvent
from sql import query


@dataclass(frozen=True)
class Resolution:
    customer_id: int | None
    matched_by: str | None                 # store id | email | phone
    tried: list[str] = field(default_factory=list)   # what we looked for, for the "unknown" note

    @property
    def found(self) -> bool:
        return self.customer_id is not None


def normalise_email(value: str | None) -> str | None:
    value = (value or "").strip().lower()
    match = re.search(r"[^\s<>\"']+@[^\s<>\"']+\.[a-z]{2,}", value)
    return match.group(0) if match else None


def normalise_phone(value: str | None) -> str | None:
    digits = re.sub(r"\D", "", value or "")
    return digits if len(digits) >= 7 else None


def identifiers(event: TicketEvent) -> tuple[list[str], list[str], list[str]]:
    """(store ids, emails, phones) the payload offers, best first, de-duplicated."""
    customer, message = event.ticket.customer, event.message
    store_ids = customer.store_ids() if customer else []
    emails_raw = [customer.email if customer else None,
                  message.sender.email if message.sender and not message.from_agent else None,
                  message.source.from_.address if message.source and message.source.from_ else None]
    emails_raw += [c.address for c in (customer.channels if customer else []) if (c.type or "") == "email"]
    phones_raw = [customer.phone if customer else None]
    phones_raw += [c.address for c in (customer.channels if customer else []) if (c.type or "") in ("phone", "sms")]
    if message.source and message.source.from_ and "@" not in (message.source.from_.address or ""):
        phones_raw.append(message.source.from_.address)  # SMS / phone sources carry a number
    emails = list(dict.fromkeys(e for e in map(normalise_email, emails_raw) if e))
    phones = list(dict.fromkeys(p for p in map(normalise_phone, phones_raw) if p))
    return store_ids, emails, phones


def resolve_customer(db, event: TicketEvent) -> Resolution:
    store_ids, emails, phones = identifiers(event)
    tried = [f"store id {s}" for s in store_ids] + [f"email {e}" for e in emails] + [f"phone {p}" for p in phones]
    with db.cursor() as cur:
        if store_ids:
            cur.execute(query("gorgias.customer_by_store_id"), {"store_ids": store_ids})
            row = cur.fetchone()
            if row:
                return Resolution(row["customer_id"], "store id", tried)
        for email in emails:
            cur.execute(query("gorgias.customer_by_email"), {"email": email})
            row = cur.fetchone()
            if row:
                return Resolution(row["customer_id"], "email", tried)
        for digits in phones:
            cur.execute(query("gorgias.customer_by_phone"), {"digits": digits})
            row = cur.fetchone()
            if row:
                return Resolution(row["customer_id"], "phone", tried)
    return Resolution(None, None, tried)


_KINDS = {0: "store id", 1: "email", 2: "phone"}


def resolve_many(db, events: list[TicketEvent]) -> list[Resolution]:
    """resolve_customer for a batch of events in one statement (the worker's batch); same answers."""
    idx, kinds, pos, vals, tried_all = [], [], [], [], []
    for n, event in enumerate(events):
        store_ids, emails, phones = identifiers(event)
        tried_all.append([f"store id {s}" for s in store_ids] + [f"email {e}" for e in emails]
                         + [f"phone {p}" for p in phones])
        for kind, values in enumerate((store_ids, emails, phones)):
            for p, value in enumerate(values):
                idx.append(n), kinds.append(kind), pos.append(p), vals.append(value)
    found: dict[int, tuple[int, str]] = {}
    if vals:
        with db.cursor() as cur:
            cur.execute(query("gorgias.resolve_many"), {"idx": idx, "kinds": kinds, "pos": pos, "vals": vals})
            found = {r["idx"]: (r["customer_id"], _KINDS[r["kind"]]) for r in cur.fetchall()}
    return [Resolution(*found[n], tried) if n in found else Resolution(None, None, tried)
            for n, tried in enumerate(tried_all)]
