"""Drains the inbox: claim → filter → resolve → facts → urgency → recommendation → draft → note →
post. Failures retry with backoff and are parked after `gorgias_max_attempts`. A re-claimed event
(its worker crashed mid-post) first looks for its own note on the ticket, so it is never posted twice."""
from __future__ import annotations

import logging
import re
import threading
import time

import psycopg

from gorgias.client import GorgiasAPIError, GorgiasClient
from gorgias.draft import draft_reply
from gorgias.facts import customer_facts
from gorgias.filters import NOTE_MARKER, decide
from gorgias.inbox import ClaimedEvent, Inbox
from gorgias.note import Note, render_note
from gorgias.recommend import recommend
from gorgias.resolve import resolve_customer
from gorgias.sources import detect_style
from gorgias.urgency import assess_urgency
from sql import query

log = logging.getLogger(__name__)

CLAIM_BATCH = 10
IDLE_POLL_SECONDS = 0.5


def build_note(settings, db, ctx, claimed: ClaimedEvent) -> Note:
    event = claimed.event
    resolution = resolve_customer(db, event)
    facts = customer_facts(ctx, resolution.customer_id) if resolution.found else None
    urgency = assess_urgency(" ".join(filter(None, [event.message.subject or event.ticket.subject, event.message.text])))
    style = detect_style(event)
    advice = recommend(settings, facts, urgency)
    draft = draft_reply(settings, event.message.text, event.message.subject or event.ticket.subject, facts, urgency, style)
    return render_note(claimed.event_id, facts, resolution, urgency, advice, draft, style)


class InboxWorker:
    def __init__(self, settings, db, ctx, client: GorgiasClient, inbox: Inbox | None = None,
                 on_outcome=None) -> None:
        self.settings, self.db, self.ctx, self.client = settings, db, ctx, client
        self.inbox = inbox or Inbox(db)
        self.on_outcome = on_outcome      # callback(outcome, event_id, seconds since received) for metrics
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # --- lifecycle --------------------------------------------------------------------------------
    def start(self, threads: int) -> None:
        self._stop.clear()
        for n in range(threads):
            thread = threading.Thread(target=self._loop, name=f"gorgias-worker-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)
        listener = threading.Thread(target=self._listen, name="gorgias-listen", daemon=True)
        listener.start()
        self._threads.append(listener)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wake(self) -> None:
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # the database blipped: keep the thread alive, try again shortly
                log.exception("gorgias worker: claiming from the inbox failed")
                handled = 0
            if not handled:
                self._wake.wait(IDLE_POLL_SECONDS)
                self._wake.clear()

    def _listen(self) -> None:
        """Wake on NOTIFY from intake in any process sharing the inbox (the idle poll is the fallback)."""
        while not self._stop.is_set():
            try:
                with psycopg.connect(self.db.url, autocommit=True) as conn:
                    conn.execute(query("gorgias.listen"))
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self._wake.set()
            except psycopg.Error as exc:
                log.warning("gorgias worker: LISTEN connection lost (%s); polling until it is back", exc)
                self._stop.wait(5)

    # --- one pass ---------------------------------------------------------------------------------
    def run_once(self, limit: int = CLAIM_BATCH) -> int:
        claimed = self.inbox.claim(limit, self.settings.gorgias_lease_seconds)
        for item in claimed:
            try:
                self.handle(item)
            except Exception:  # e.g. the database went away mid-event: its lease brings it back later
                log.exception("gorgias event %s: handling failed; it returns to the queue when its lease ends",
                              item.event_id)
        return len(claimed)

    def handle(self, claimed: ClaimedEvent) -> str:
        outcome = self._handle(claimed)
        if self.on_outcome:
            self.on_outcome(outcome, claimed.event_id, claimed.received_at)
        return outcome

    def _handle(self, claimed: ClaimedEvent) -> str:
        event_id, event = claimed.event_id, claimed.event
        where = f"event {event_id} (ticket {event.ticket_id}, message {event.message_id})"
        max_attempts = self.settings.gorgias_max_attempts
        if claimed.attempts > max_attempts:
            # Only a claim whose worker died repeatedly gets here (errors park on their own).
            error = f"gave up after {claimed.attempts - 1} attempts; last: {claimed.previous_error or 'worker stopped mid-way'}"
            self.inbox.mark_parked(event_id, error)
            log.error("gorgias %s parked: %s", where, error)
            return "parked"

        decision = decide(event, self.settings)
        if not decision.process:
            self.inbox.mark_skipped(event_id, decision.reason)
            log.info("gorgias %s skipped: %s", where, decision.reason)
            return "skipped"
        log.info("gorgias %s accepted: %s", where, decision.reason)

        try:
            # Tried before (a crash, a 5xx after Gorgias stored the note, a requeued parked event):
            # look for our note first, so it is never posted twice.
            if claimed.attempts > 1 or claimed.previous_error:
                existing = self._find_posted_note(event.ticket_id, event_id)
                if existing is not None:
                    self.inbox.mark_done(event_id, existing)
                    log.info("gorgias %s: note %s was already posted before a restart", where, existing)
                    return "done"
            note = build_note(self.settings, self.db, self.ctx, claimed)
            self.inbox.extend_lease(event_id, self.settings.gorgias_lease_seconds)
            posted = self.client.post_internal_note(event.ticket_id, note.html, note.text)
        except GorgiasAPIError as exc:
            return self._failed(claimed, where, str(exc), exc.retriable)
        except Exception as exc:  # a bug or a database error: keep the event, retry, park if it persists
            log.exception("gorgias %s: building the note failed", where)
            return self._failed(claimed, where, f"{type(exc).__name__}: {exc}", True)

        self.inbox.mark_done(event_id, posted.get("id"))
        log.info("gorgias %s: note %s posted", where, posted.get("id"))
        self._update_ticket(event.ticket_id, note, where)
        return "done"

    def _failed(self, claimed: ClaimedEvent, where: str, error: str, retriable: bool) -> str:
        if not retriable or claimed.attempts >= self.settings.gorgias_max_attempts:
            self.inbox.mark_parked(claimed.event_id, error)
            log.error("gorgias %s parked after %d attempt(s): %s", where, claimed.attempts, error)
            return "parked"
        delay = self.settings.gorgias_retry_base_seconds * 2 ** (claimed.attempts - 1)
        self.inbox.mark_retry(claimed.event_id, error, delay)
        log.warning("gorgias %s attempt %d failed (%s); retrying in %.1f s", where, claimed.attempts, error, delay)
        return "retry"

    def _find_posted_note(self, ticket_id: int, event_id: int) -> int | None:
        marker = re.compile(re.escape(f"{NOTE_MARKER}{event_id}") + r"(?!\d)")
        for message in self.client.list_messages(ticket_id):
            if marker.search(message.get("body_text") or "") or marker.search(message.get("body_html") or ""):
                return message.get("id") or 0
        return None

    def _update_ticket(self, ticket_id: int, note: Note, where: str) -> None:
        # Optional extras after the note: a failure here must not re-post the note, so only log it.
        try:
            if self.settings.gorgias_note_tags:
                self.client.add_tags(ticket_id, list(self.settings.gorgias_note_tags))
            if self.settings.gorgias_set_priority and note.urgent:
                self.client.set_priority(ticket_id, "high")
        except GorgiasAPIError as exc:
            log.warning("gorgias %s: ticket update after the note failed: %s", where, exc)


def drain(worker: InboxWorker, timeout: float = 10.0) -> int:
    """Process until nothing is due (for the CLI and tests); returns events handled."""
    deadline, handled = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        n = worker.run_once()
        if not n:
            break
        handled += n
    return handled
