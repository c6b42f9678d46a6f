"""The durable Gorgias inbox (table `gorgias_inbox`): enqueue on intake, claim with
`FOR UPDATE SKIP LOCKED` and a lease, then done / skipped / retry later / parked."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from psycopg.types.json import Jsonb

from gorgias.payload import TicketEvent
from sql import query


@dataclass(frozen=True)
class ClaimedEvent:
    event_id: int
    event: TicketEvent
    attempts: int              # including this claim
    previous_error: str | None
    received_at: datetime


class Inbox:
    def __init__(self, db) -> None:
        self.db = db

    def enqueue(self, event: TicketEvent) -> tuple[int, bool]:
        """Store the event; returns (event_id, inserted). A duplicate returns the first row's id."""
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.enqueue"), {
                "ticket_id": event.ticket_id, "message_id": event.message_id,
                "payload": Jsonb(event.model_dump(mode="json", by_alias=True, exclude_none=True)),
            })
            row = cur.fetchone()
        return row["event_id"], row["inserted"]

    def claim(self, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.claim"), {"limit": limit, "lease_seconds": lease_seconds})
            rows = cur.fetchall()
        return [ClaimedEvent(r["event_id"], TicketEvent.model_validate(r["payload"]), r["attempts"],
                             r["last_error"], r["received_at"]) for r in sorted(rows, key=lambda r: r["event_id"])]

    def _update(self, name: str, **params) -> None:
        with self.db.cursor() as cur:
            cur.execute(query(f"gorgias.{name}"), params)

    def mark_done(self, event_id: int, note_message_id: int | None) -> None:
        self._update("mark_done", event_id=event_id, note_message_id=note_message_id)

    def mark_skipped(self, event_id: int, reason: str) -> None:
        self._update("mark_skipped", event_id=event_id, reason=reason)

    def mark_retry(self, event_id: int, error: str, delay_seconds: float) -> None:
        self._update("mark_retry", event_id=event_id, error=error[:2000], delay_seconds=delay_seconds)

    def mark_parked(self, event_id: int, error: str) -> None:
        self._update("mark_parked", event_id=event_id, error=error[:2000])

    def requeue_parked(self) -> list[int]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.requeue_parked"))
            return [r["event_id"] for r in cur.fetchall()]

    def status_counts(self) -> list[dict]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.status_counts"))
            return cur.fetchall()

    def parked(self, limit: int = 20) -> list[dict]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.parked"), {"limit": limit})
            return cur.fetchall()

    def skip_reasons(self) -> list[dict]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.skip_reasons"))
            return cur.fetchall()
