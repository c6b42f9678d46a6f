"""What the listeners need, handed over by the composition root: settings, database, the tool
context, the question router and the tool runner. Tests pass their own router or tool runner."""
from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from analytics.core import ToolContext, ToolResult
from bot.limits import QuestionLimits
from sql import Database

if TYPE_CHECKING:
    from analytics.router import Router
    from settings import Settings

log = logging.getLogger(__name__)

# How many answers are computed at once: one per core. The work is CPU-bound Python; more threads
# only fight over the GIL and slow the acks, which must stay fast (bench_slack: 2 slots instead of
# 4 halved the worst ack p99 under 20 concurrent requests). Waiting work has been acknowledged
# and shows its progress placeholder.
ANSWER_CONCURRENCY = max(2, os.cpu_count() or 2)


@dataclass
class BotDeps:
    settings: Settings
    db: Database
    ctx: ToolContext | None
    router_factory: Callable[[], Router]
    run_tool: Callable[[str, dict[str, Any]], ToolResult]
    limits: QuestionLimits
    _router: Router | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(ANSWER_CONCURRENCY), init=False, repr=False)

    def limited(self, work: Callable) -> Callable:
        """`work` (a Bolt lazy listener) run when one of the answer slots is free. functools.wraps
        keeps the signature visible to Bolt, which injects arguments by parameter name."""

        @functools.wraps(work)
        def run(**kwargs):
            with self._slots:
                return work(**kwargs)

        return run

    def slot(self) -> threading.BoundedSemaphore:
        """`with deps.slot():` around the expensive part of a listener that shows progress first."""
        return self._slots

    @property
    def router(self) -> Router:
        """One router per process, made on first use (it may open the Claude client)."""
        if self._router is None:
            with self._lock:
                if self._router is None:
                    self._router = self.router_factory()
        return self._router
