"""Discovery on a schedule inside the serving process, with one leader across app instances.

APScheduler 3 BackgroundScheduler, cron from DISCOVERY_CRON (UTC), coalesced, one instance at a
time. Every instance schedules the job; when it fires, each calls run_discovery, which takes the
one-discovery-at-a-time advisory lock itself (the same lock a manual `discover` takes), so only
one runs. Clocks differ between machines, so holding the lock is not enough (a late instance
would get it after the first one finished): under the lock, a run started within the last
`slot_seconds` means the slot is taken and this instance skips. On start, if there is no current
run and there are orders, one run starts in the background straight away (same rules).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from discovery.pipeline import BUSY, SKIPPED, RunSummary, run_discovery
from sql import query

log = logging.getLogger(__name__)


class DiscoveryScheduler:
    """`start()` / `shutdown()`; `run_once()` runs now if this instance wins the slot."""

    def __init__(self, settings, db, on_published: Callable[[int], None] | None = None,
                 slot_seconds: float = 600.0) -> None:
        self.settings = settings
        self.db = db
        self.on_published = on_published
        self.slot_seconds = slot_seconds
        self.trigger = CronTrigger.from_crontab(settings.discovery_cron, timezone=timezone.utc)
        self._scheduler: BackgroundScheduler | None = None
        self.last_summary: RunSummary | None = None
        self._idle = threading.Event()
        self._idle.set()

    def start(self) -> None:
        scheduler = BackgroundScheduler(timezone=timezone.utc)
        scheduler.add_job(self.run_once, self.trigger, id="discovery", coalesce=True, max_instances=1,
                          misfire_grace_time=3600, replace_existing=True)
        if self._needs_initial_run():
            log.info("no current discovery run: starting one in the background")
            scheduler.add_job(self.run_once, "date", run_date=datetime.now(timezone.utc), id="discovery-initial",
                              max_instances=1, misfire_grace_time=None)
        scheduler.start()
        self._scheduler = scheduler

    def shutdown(self, wait: bool = True) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=wait)
            self._scheduler = None

    def wait_idle(self, timeout: float | None = None) -> bool:
        """For tests and orderly shutdown: True once no run is in progress."""
        return self._idle.wait(timeout)

    def _needs_initial_run(self) -> bool:
        with self.db.cursor() as cur:
            cur.execute(query("discovery.current_run"))
            if cur.fetchone() is not None:
                return False
            cur.execute(query("discovery.count_sale_orders"))
            return cur.fetchone()["n"] > 0

    def run_once(self) -> RunSummary | None:
        """Run discovery unless another run is in progress or one already ran in this slot
        (then None). run_discovery holds the lock; taking it here as well, on another connection,
        would make every scheduled run find itself busy."""
        self._idle.clear()
        try:
            summary = run_discovery(self.db, self.settings, on_published=self.on_published,
                                    skip_if_started_within=self.slot_seconds)
            if summary.status in (BUSY, SKIPPED):
                log.info("scheduled discovery skipped: %s", summary.error)
                return None
            self.last_summary = summary
            log.info("scheduled discovery run %s: %s", summary.run_id, summary.status)
            return summary
        except Exception:
            log.exception("scheduled discovery failed to start")
            return None
        finally:
            self._idle.set()
