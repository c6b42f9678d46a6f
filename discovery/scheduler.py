"""Discovery on a schedule inside the serving process, with one leader across app instances.

APScheduler 3 BackgroundScheduler, cron from DISCOVERY_CRON (UTC), coalesced, one instance at a
time. Every instance schedules the job; when it fires, each tries a PostgreSQL session advisory
lock and only the holder runs. Clocks differ between machines, so holding the lock is not enough
(a late instance would get it after the first one finished): an instance that finds a run started
within the last `slot_seconds` treats the slot as taken and skips. On start, if there is no current
run and there are orders, one run starts in the background straight away (same rules).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime, timezone
from typing import Callable

import psycopg
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from discovery.pipeline import RunSummary, run_discovery
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
        """Run discovery if this instance holds the leader lock and nobody ran in this slot."""
        # The lock lives on its own connection for the whole run (a session lock on a pooled
        # connection could leak to the next borrower).
        self._idle.clear()
        try:
            with psycopg.connect(self.db.url, autocommit=True) as lock_conn:
                if not lock_conn.execute(query("discovery.try_leader_lock")).fetchone()[0]:
                    log.info("discovery skipped: another instance holds the leader lock")
                    return None
                try:
                    taken = lock_conn.execute(query("discovery.recent_run_started"),
                                              {"seconds": self.slot_seconds}).fetchone()[0]
                    if taken:
                        log.info("discovery skipped: a run already started in this slot")
                        return None
                    summary = run_discovery(self.db, self.settings, on_published=self.on_published)
                    self.last_summary = summary
                    log.info("scheduled discovery run %s: %s", summary.run_id, summary.status)
                    return summary
                finally:
                    lock_conn.execute(query("discovery.release_leader_lock"))
        except Exception:
            log.exception("scheduled discovery failed to start")
            return None
        finally:
            self._idle.set()
