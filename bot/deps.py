"""What the listeners need, built once per process: settings, database, the tool context, the
question router and the tool runner. Tests pass their own router or tool runner here."""
from __future__ import annotations

import functools
import logging
import os
import threading
from dataclasses import dataclass, field
from typing import Any, Callable

log = logging.getLogger(__name__)

# How many answers are computed at once: one per core. The work is CPU-bound Python; more threads
# only fight over the GIL and slow the acks, which must stay fast (bench_slack: 2 slots instead of
# 4 halved the worst ack p99 under 20 concurrent requests). Waiting work has been acknowledged
# and shows its progress placeholder.
ANSWER_CONCURRENCY = max(2, os.cpu_count() or 2)


@dataclass
class BotDeps:
    settings: Any
    db: Any                                   # sql.Database
    ctx: Any = None                           # analytics ToolContext
    router_factory: Callable[[], Any] | None = None
    run_tool: Callable[[str, dict[str, Any]], Any] | None = None
    _router: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _slots: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(ANSWER_CONCURRENCY), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.ctx is None:
            self.ctx = _default_context(self.settings, self.db)
        if self.run_tool is None:
            from analytics.tools.registry import run_tool

            self.run_tool = lambda name, arguments: run_tool(self.ctx, name, arguments)
        if self.router_factory is None:
            self.router_factory = lambda: _default_router(self.ctx, self.settings)

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
    def router(self) -> Any:
        """One router per process, made on first use (it may open the Claude client)."""
        if self._router is None:
            with self._lock:
                if self._router is None:
                    self._router = self.router_factory()
        return self._router


def _default_context(settings, db):
    try:
        from analytics.context import build_context
    except ImportError:  # the analytics package is optional while it is being built
        from analytics.tools.registry import ToolContext

        return ToolContext(db=db, settings=settings)
    return build_context(settings, db)


def _default_router(ctx, settings):
    from analytics.router import Router

    return Router(ctx, settings)
