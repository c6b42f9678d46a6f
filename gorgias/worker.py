"""Drains the inbox: claim → filter → resolve → facts → urgency → recommendation → draft → note →
post. Failures retry with backoff and are parked after `gorgias_max_attempts`. A re-claimed event
(its worker crashed mid-post) first looks for its own note on the ticket, so it is never posted twice.

Work goes in batches: one claim statement, one resolution statement, one recent-orders statement
and one finishing statement per batch; the enrichment reads every customer of the batch in one statement too."""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import TYPE_CHECKING

import psycopg

from gorgias.client import GorgiasAPIError, GorgiasClient
from gorgias.draft import draft_reply
from gorgias.facts import CustomerFacts, customer_facts, customer_facts_many, one_connection, recent_orders_many
from gorgias.filters import NOTE_MARKER, decide
from gorgias.inbox import ClaimedEvent, Inbox
from gorgias.note import Note, render_note
from gorgias.recommend import recommend
from gorgias.resolve import Resolution, resolve_customer, resolve_many
from gorgias.sources import detect_style
from gorgias.urgency import assess_urgency
from observability.logs import correlated
from sql import query

if TYPE_CHECKING:
    import anthropic

    from analytics.core import ToolContext
    from settings import Settings
    from sql import Database

log = logging.getLogger(__name__)

CLAIM_BATCH = 16           # template drafts: a burst drains in few statements
CLAIM_BATCH_WITH_MODEL = 2  # Claude drafts take seconds each: small claims keep every thread busy
IDLE_POLL_SECONDS = 0.5
# An event is posted without renewing its lease while the claim is younger than this share of the
# lease: the client's waiting budget (half the lease) plus its timeout still ends inside the lease.
LEASE_RENEW_AFTER = 0.25


def claim_limit(settings) -> int:
    return CLAIM_BATCH if settings.anthropic_api_key is None else CLAIM_BATCH_WITH_MODEL


def build_note(settings, db, ctx, claimed: ClaimedEvent, resolution: Resolution | None = None,
               facts: CustomerFacts | None = None, claude=None) -> Note:
    """The note for one event; `resolution`/`facts` when the caller already has them for a batch."""
    event = claimed.event
    resolution = resolution or resolve_customer(db, event)
    if facts is None and resolution.found:
        facts = customer_facts(ctx, resolution.customer_id)
    urgency = assess_urgency(" ".join(filter(None, [event.message.subject or event.ticket.subject, event.message.text])))
    style = detect_style(event)
    advice = recommend(settings, facts, urgency)
    draft = draft_reply(settings, claude, event.message.text, event.message.subject or event.ticket.subject, facts, urgency, style)
    return render_note(claimed.event_id, facts, resolution, urgency, advice, draft, style)


def event_correlation_id(event_id: int) -> str:
    """The id the worker's log lines about one inbox event carry (intake logs the event id too)."""
    return f"gorgias-event-{event_id}"


class InboxWorker:
    def __init__(self, settings: Settings, db: Database, ctx: ToolContext, client: GorgiasClient,
                 inbox: Inbox | None = None, on_outcome=None, claude: anthropic.Anthropic | None = None) -> None:
        self.settings, self.db, self.ctx, self.client = settings, db, ctx, client
        self.claude = claude              # the Anthropic client for drafts (None: template drafts)
        self.inbox = inbox or Inbox(db)
        self.on_outcome = on_outcome      # callback(outcome, event_id, seconds since received) for metrics
        # One waiting thread is woken per wake-up (not all of them to race for one event); a thread
        # that claims a full batch wakes the next, so a burst still spreads over every thread.
        self._wake = threading.Condition()
        self._woken = False
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
        with self._wake:
            self._wake.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        self._threads.clear()

    def wake(self) -> None:
        with self._wake:
            self._woken = True
            self._wake.notify()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                handled = self.run_once()
            except Exception:  # the database blipped: keep the thread alive, try again shortly
                log.exception("gorgias worker: claiming from the inbox failed")
                handled = 0
            if not handled:
                with self._wake:
                    if not self._woken and not self._stop.is_set():
                        self._wake.wait(IDLE_POLL_SECONDS)
                    self._woken = False

    def _listen(self) -> None:
        """Wake on NOTIFY from intake in any process sharing the inbox (the idle poll is the fallback)."""
        while not self._stop.is_set():
            try:
                with self.db.connect_outside_pool(autocommit=True) as conn:
                    conn.execute(query("gorgias.listen"))
                    while not self._stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.wake()
            except psycopg.Error as exc:
                log.warning("gorgias worker: LISTEN connection lost (%s); polling until it is back", exc)
                self._stop.wait(5)

    # --- one pass ---------------------------------------------------------------------------------
    def run_once(self, limit: int | None = None) -> int:
        """Claim one batch and handle it; returns the number of events claimed."""
        limit = limit or claim_limit(self.settings)
        claimed_at = time.monotonic()   # before the claim: the lease started no earlier than this
        claimed = self.inbox.claim(limit, self.settings.gorgias_lease_seconds)
        if len(claimed) == limit:
            self.wake()                  # more may be waiting: let another thread help
        finished: list[tuple[int, str, int | None, str | None]] = []
        outcomes: list[tuple[str, ClaimedEvent]] = []
        try:
            self._handle_batch(claimed, claimed_at, finished, outcomes)
        finally:
            self._finish(finished)
            if self.on_outcome:
                for outcome, item in outcomes:
                    self.on_outcome(outcome, item.event_id, item.received_at)
        return len(claimed)

    def handle(self, claimed: ClaimedEvent) -> str:
        """One claimed event on its own (the batch path with a batch of one)."""
        finished: list[tuple[int, str, int | None, str | None]] = []
        outcomes: list[tuple[str, ClaimedEvent]] = []
        try:
            self._handle_batch([claimed], time.monotonic(), finished, outcomes)
        finally:
            self._finish(finished)
        if self.on_outcome:
            for outcome, item in outcomes:
                self.on_outcome(outcome, item.event_id, item.received_at)
        return outcomes[0][0] if outcomes else "error"

    def _finish(self, finished: list) -> None:
        try:
            self.inbox.mark_finished(finished)
        except Exception:  # the events come back when their lease ends and find their own notes
            log.exception("gorgias worker: recording %d finished event(s) failed", len(finished))
        finished.clear()

    def _handle_batch(self, claimed: list[ClaimedEvent], claimed_at: float, finished: list, outcomes: list) -> None:
        to_note: list[ClaimedEvent] = []
        for item in claimed:
            try:
                with correlated(event_correlation_id(item.event_id)):
                    early = self._screen(item, finished)
            except Exception:  # e.g. the database went away: its lease brings it back later
                log.exception("gorgias event %s: handling failed; it returns to the queue when its lease ends",
                              item.event_id)
                continue
            if early:
                outcomes.append((early, item))
            else:
                to_note.append(item)
        if not to_note:
            return
        try:
            resolutions: list[Resolution | None] = resolve_many(self.db, [item.event for item in to_note])
            recent = recent_orders_many(self.db, sorted({r.customer_id for r in resolutions if r.found}))
        except Exception:  # the per-event path below retries and parks each event on its own
            log.exception("gorgias worker: resolving a batch of %d failed", len(to_note))
            resolutions, recent = [None] * len(to_note), {}
        facts_by_customer: dict[int, CustomerFacts] = {}
        if recent:
            try:
                with one_connection(self.ctx) as ctx:
                    facts_by_customer = customer_facts_many(ctx, list(recent), recent)
            except Exception:  # _note below enriches each customer on its own
                log.exception("gorgias worker: enriching a batch of %d customer(s) failed", len(recent))
        for item, resolution in zip(to_note, resolutions):
            try:
                with correlated(event_correlation_id(item.event_id)):
                    outcome = self._note(item, claimed_at, resolution, recent, facts_by_customer, finished)
            except Exception:
                log.exception("gorgias event %s: handling failed; it returns to the queue when its lease ends",
                              item.event_id)
                continue
            outcomes.append((outcome, item))

    def _screen(self, claimed: ClaimedEvent, finished: list) -> str | None:
        """'parked' or 'skipped' when the event gets no note, else None."""
        event_id, event = claimed.event_id, claimed.event
        where = f"event {event_id} (ticket {event.ticket_id}, message {event.message_id})"
        if claimed.attempts > self.settings.gorgias_max_attempts:
            # Only a claim whose worker died repeatedly gets here (errors park on their own).
            error = f"gave up after {claimed.attempts - 1} attempts; last: {claimed.previous_error or 'worker stopped mid-way'}"
            self.inbox.mark_parked(event_id, error)
            log.error("gorgias %s parked: %s", where, error)
            return "parked"
        decision = decide(event, self.settings)
        if not decision.process:
            finished.append((event_id, "skipped", None, decision.reason))
            log.info("gorgias %s skipped: %s", where, decision.reason)
            return "skipped"
        log.info("gorgias %s accepted: %s", where, decision.reason)
        return None

    def _note(self, claimed: ClaimedEvent, claimed_at: float, resolution: Resolution | None,
              recent: dict, facts_by_customer: dict, finished: list) -> str:
        event_id, event = claimed.event_id, claimed.event
        where = f"event {event_id} (ticket {event.ticket_id}, message {event.message_id})"
        lease = self.settings.gorgias_lease_seconds
        try:
            # Tried before (a crash, a 5xx after Gorgias stored the note, a requeued parked event):
            # look for our note first, so it is never posted twice.
            if claimed.attempts > 1 or claimed.previous_error:
                existing = self._find_posted_note(event.ticket_id, event_id)
                if existing is not None:
                    finished.append((event_id, "done", existing, None))
                    log.info("gorgias %s: note %s was already posted before a restart", where, existing)
                    return "done"
            facts = None
            if resolution is not None and resolution.found:
                facts = facts_by_customer.get(resolution.customer_id)
                if facts is None:
                    with one_connection(self.ctx) as ctx:
                        facts = customer_facts(ctx, resolution.customer_id, recent.get(resolution.customer_id))
                    facts_by_customer[resolution.customer_id] = facts
            note = build_note(self.settings, self.db, self.ctx, claimed, resolution, facts, self.claude)
            if time.monotonic() - claimed_at > lease * LEASE_RENEW_AFTER:
                self._finish(finished)   # what is posted is recorded before this batch runs on
                if not self.inbox.extend_lease(event_id, lease, claimed.attempts):
                    log.warning("gorgias %s: its lease ran out and another worker claimed it; not posting", where)
                    return "released"
            posted = self.client.post_internal_note(event.ticket_id, note.html, note.text)
        except GorgiasAPIError as exc:
            return self._failed(claimed, where, str(exc), exc.retriable)
        except Exception as exc:  # a bug or a database error: keep the event, retry, park if it persists
            log.exception("gorgias %s: building the note failed", where)
            return self._failed(claimed, where, f"{type(exc).__name__}: {exc}", True)

        finished.append((event_id, "done", posted.get("id"), None))
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
