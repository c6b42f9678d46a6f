"""The store's own names for the offline router (segments and archetypes of the current run,
product categories, the data's latest date), loaded from PostgreSQL and refreshed periodically."""
from __future__ import annotations

import logging
import threading
import time
from datetime import date

from analytics.router.slots import Vocabulary
from sql import query

log = logging.getLogger(__name__)


def load_vocabulary(db) -> Vocabulary:
    with db.cursor() as cur:
        anchor_row = cur.execute(query("router.anchor")).fetchone() or {}
        segments = [(r["axis"], r["name"]) for r in cur.execute(query("router.current_segments")).fetchall()]
        archetypes = [(r["archetype_id"], r["name"]) for r in cur.execute(query("router.current_archetypes")).fetchall()]
        categories = [r["category"] for r in cur.execute(query("router.categories")).fetchall()]
    anchor = anchor_row.get("anchor") or date.today()
    return Vocabulary(segments=segments, archetypes=archetypes, categories=categories, anchor=anchor,
                      run_id=anchor_row.get("run_id"))


class VocabularyCache:
    """Reloads at most every `max_age` seconds: a new discovery run renames segments only twice a day."""

    def __init__(self, db, max_age: float = 60.0) -> None:
        self.db = db
        self.max_age = max_age
        self._value: Vocabulary | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> Vocabulary:
        with self._lock:
            if self._value is None or time.monotonic() - self._loaded_at > self.max_age:
                try:
                    self._value = load_vocabulary(self.db)
                except Exception:  # noqa: BLE001 - route with what we have rather than fail
                    log.exception("could not load the router vocabulary")
                    if self._value is None:
                        self._value = Vocabulary()
                self._loaded_at = time.monotonic()
            return self._value

    def invalidate(self) -> None:
        with self._lock:
            self._value = None
