"""The durable Gorgias inbox (table `gorgias_inbox`): enqueue on intake, claim with
`FOR UPDATE SKIP LOCKED` and a lease, then done / skipped / retry later / parked."""
from __future__ import annotations

import queue
import threading
from collections import Counter
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime

import psycopg

from gorgias.payload import TicketEvent
from sql import query
from sql.database import FAST_TIMEOUT


@dataclass(frozen=True)
class ClaimedEvent:
    event_id: int
    event: TicketEvent
    attempts: int              # including this claim
    previous_error: str | None
    received_at: datetime


class IntakeWriter:
    """Group commit for the webhook: events from concurrent requests are written by one thread in
    one transaction, so a burst shares WAL flushes instead of queueing behind one fsync each."""

    MAX_BATCH = 200

    def __init__(self, inbox: "Inbox") -> None:
        self.inbox = inbox
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, event: TicketEvent) -> Future:
        """A future of (event_id, inserted), set once the event is committed."""
        future: Future = Future()
        self._queue.put((event, future))
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="gorgias-intake", daemon=True)
                self._thread.start()
        return future

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(5)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < self.MAX_BATCH:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._queue.put(None)  # finish this batch, then stop
                    break
                batch.append(more)
            try:
                results = self.inbox.enqueue_many([event for event, _ in batch])
            except Exception as exc:
                self._one_by_one(batch, exc)
                continue
            for (_, future), result in zip(batch, results):
                future.set_result(result)

    def _one_by_one(self, batch: list, batch_error: Exception) -> None:
        """The group commit failed: one bad event must not fail its neighbours, so each is stored
        in its own transaction and answers for itself. When the database is down (a connection
        error) every waiting request answers 503 at once instead."""
        if len(batch) == 1 or isinstance(batch_error, psycopg.OperationalError):
            for _, future in batch:
                future.set_exception(batch_error)
            return
        for event, future in batch:
            try:
                future.set_result(self.inbox.enqueue_many([event])[0])
            except Exception as exc:
                future.set_exception(exc)


class Inbox:
    def __init__(self, db) -> None:
        self.db = db

    def enqueue(self, event: TicketEvent) -> tuple[int, bool]:
        """Store the event; returns (event_id, inserted). A duplicate returns the first row's id."""
        return self.enqueue_many([event])[0]

    def enqueue_many(self, events: list[TicketEvent]) -> list[tuple[int, bool]]:
        """Store several events in one statement and one transaction (one WAL flush); results in
        the same order. A key repeated inside the batch is a duplicate delivery of its first copy."""
        first: dict[tuple[int, int], TicketEvent] = {}
        copies: Counter[tuple[int, int]] = Counter()
        for e in events:
            first.setdefault((e.ticket_id, e.message_id), e)
            copies[e.ticket_id, e.message_id] += 1
        batch = list(first.values())
        # The webhook is waiting: with the database down, answer 503 now rather than hang.
        with self.db.cursor(timeout=FAST_TIMEOUT) as cur:
            cur.execute(query("gorgias.enqueue"), {
                "ticket_ids": [e.ticket_id for e in batch], "message_ids": [e.message_id for e in batch],
                "deliveries": [copies[e.ticket_id, e.message_id] for e in batch],
                # pydantic serialises in Rust; the text is cast to jsonb by the statement
                "payloads": [e.model_dump_json(by_alias=True, exclude_none=True) for e in batch]})
            stored = {(r["ticket_id"], r["message_id"]): (r["event_id"], r["inserted"]) for r in cur.fetchall()}
        results, seen = [], set()
        for e in events:
            key = (e.ticket_id, e.message_id)
            event_id, inserted = stored[key]
            results.append((event_id, inserted and key not in seen))
            seen.add(key)
        return results

    def claim(self, limit: int, lease_seconds: float) -> list[ClaimedEvent]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.claim"), {"limit": limit, "lease_seconds": lease_seconds})
            rows = cur.fetchall()
        return [ClaimedEvent(r["event_id"], TicketEvent.model_validate(r["payload"]), r["attempts"],
                             r["last_error"], r["received_at"]) for r in sorted(rows, key=lambda r: r["event_id"])]

    def _update(self, name: str, **params) -> None:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.relaxed_commit"))
            cur.execute(query(f"gorgias.{name}"), params)

    def extend_lease(self, event_id: int, lease_seconds: float, attempts: int) -> bool:
        """Renew the lease while no other worker has re-claimed the event (`attempts` is the count
        our claim returned). False: the event is no longer ours to post."""
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.relaxed_commit"))
            cur.execute(query("gorgias.extend_lease"),
                        {"event_id": event_id, "lease_seconds": lease_seconds, "attempts": attempts})
            return cur.rowcount > 0

    def mark_done(self, event_id: int, note_message_id: int | None) -> None:
        self._update("mark_done", event_id=event_id, note_message_id=note_message_id)

    def mark_finished(self, outcomes: list[tuple[int, str, int | None, str | None]]) -> None:
        """Several (event_id, 'done' | 'skipped', note id, skip reason) in one statement."""
        if not outcomes:
            return
        event_ids, statuses, note_ids, reasons = (list(column) for column in zip(*outcomes))
        self._update("mark_finished", event_ids=event_ids, statuses=statuses, note_ids=note_ids, reasons=reasons)

    def mark_skipped(self, event_id: int, reason: str) -> None:
        self._update("mark_skipped", event_id=event_id, reason=reason)

    def mark_retry(self, event_id: int, error: str, delay_seconds: float) -> None:
        self._update("mark_retry", event_id=event_id, error=error[:2000], delay_seconds=delay_seconds)

    def mark_parked(self, event_id: int, error: str) -> None:
        self._update("mark_parked", event_id=event_id, error=error[:2000])

    def requeue_parked(self) -> list[int]:
        with self.db.cursor() as cur:
            cur.execute(query("gorgias.requeue_parked"))
            ids = [r["event_id"] for r in cur.fetchall()]
            cur.execute(query("gorgias.notify"))  # a running server's workers pick them up at once
            return ids

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
