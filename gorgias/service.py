"""The Gorgias integration as one object for the composition root: its HTTP routes, and the
inbox worker threads that start and stop with the server.

    service = GorgiasService(settings, db, ctx, client=..., claude=...)
    routes += service.routes()          # POST /gorgias/webhook
    service.start() ... service.stop()  # in the ASGI lifespan
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from starlette.routing import Route

from gorgias.client import GorgiasClient
from gorgias.inbox import Inbox, IntakeWriter
from analytics.limits import RateLimiter
from gorgias.webhook import make_webhook_endpoint
from gorgias.worker import InboxWorker
from observability import metrics
from sql import query

if TYPE_CHECKING:
    import anthropic

    from analytics.core import ToolContext
    from settings import Settings
    from sql import Database

log = logging.getLogger(__name__)


class GorgiasService:
    def __init__(self, settings: Settings, db: Database, ctx: ToolContext, *, client: GorgiasClient | None = None,
                 claude: anthropic.Anthropic | None = None) -> None:
        """`client` posts the notes (None: intake only, events wait in the inbox); `claude` drafts
        them (None: template drafts). Both are built by the composition root."""
        self.settings, self.db, self.ctx, self.claude = settings, db, ctx, claude
        self.inbox = Inbox(db)
        self.writer = IntakeWriter(self.inbox)
        self._client = client
        self.worker: InboxWorker | None = None

    @property
    def configured(self) -> bool:
        """The webhook is only mounted usefully with a secret; without one it answers 503."""
        return self.settings.gorgias_webhook_secret is not None

    def routes(self) -> list[Route]:
        per_source = RateLimiter("gorgias_webhook", self.settings.gorgias_webhook_requests,
                                 self.settings.gorgias_webhook_window_seconds, cache=self.ctx.cache)
        endpoint = make_webhook_endpoint(self.settings, self.writer, self.wake, self._observe_intake, per_source)
        return [Route("/gorgias/webhook", endpoint, methods=["POST"], name="gorgias_webhook")]

    def start(self) -> None:
        """Start the inbox worker threads (GORGIAS_WORKER_THREADS; 0 = intake only)."""
        if self.worker is not None or self.settings.gorgias_worker_threads == 0:
            return
        client = self._client
        if client is None:
            # Intake still stores events; they are posted once the client is configured and restarted.
            log.warning("Gorgias notes are not posted: the REST client is not configured (webhooks are still stored)")
            return
        self.worker = InboxWorker(self.settings, self.db, self.ctx, client, self.inbox, self._observe_outcome,
                                  self.claude)
        self.worker.start(self.settings.gorgias_worker_threads)
        self.worker.wake()  # events stored while we were down are due now
        log.info("Gorgias inbox worker started (%d thread(s))", self.settings.gorgias_worker_threads)

    def stop(self) -> None:
        self.writer.close()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self._client is not None:
            self._client.close()
            self._client = None

    def wake(self) -> None:
        if self.worker is not None:
            self.worker.wake()

    def _observe_intake(self, outcome: str, seconds: float) -> None:
        metrics.GORGIAS_WEBHOOKS.labels(outcome).inc()
        metrics.GORGIAS_INTAKE_SECONDS.observe(seconds)

    def _observe_outcome(self, outcome: str, event_id: int, received_at) -> None:
        metrics.GORGIAS_NOTES.labels(NOTE_OUTCOMES.get(outcome, outcome)).inc()

    def inbox_depth(self, timeout: float = 0.5) -> dict[str, int]:
        """Events waiting (pending), being worked (processing) and given up on (parked), for the
        inbox-depth gauge; `timeout`: seconds to wait for a connection, so a scrape never hangs."""
        with self.db.cursor(timeout=timeout) as cur:
            cur.execute(query("gorgias.depth"))
            rows = {row["status"]: int(row["events"]) for row in cur.fetchall()}
        return {status: rows.get(status, 0) for status in ("pending", "processing", "parked")}


# The worker's words for what happened to an event, as /metrics counts notes.
NOTE_OUTCOMES = {"done": "posted", "skipped": "skipped", "parked": "failed", "retry": "failed", "released": "released"}
