"""The composition root's building blocks: the one place that reads settings and builds the
database pool, the cache, the tool context, the Claude client and the router. `app.py` (the CLI)
and `wiring.web` (the server) use these; everything else receives what it needs."""
from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterator

from analytics.cache import Cache
from analytics.context import build_context
from analytics.core import ToolContext
from settings import Settings
from sql import Database, connect_database

if TYPE_CHECKING:
    import anthropic

    from analytics.router import Router


def claude_client(settings: Settings) -> anthropic.Anthropic | None:
    """The process's one Anthropic client, behind the circuit breaker that stops every caller waiting
    out the timeout while the API is down; None without ANTHROPIC_API_KEY (importing the SDK costs
    seconds, so it is imported only when a key is set)."""
    if settings.anthropic_api_key is None:
        return None
    import anthropic

    from analytics.claude_breaker import ClaudeBreaker

    return ClaudeBreaker(anthropic.Anthropic(api_key=settings.anthropic_api_key.get_secret_value(),
                                             base_url=settings.anthropic_base_url,
                                             timeout=settings.anthropic_timeout_seconds,
                                             max_retries=settings.anthropic_max_retries))


@dataclass
class Services:
    """What one process shares: settings, the database pool, the tool context (with its cache) and,
    made on first use, the Claude client and the question router."""

    settings: Settings
    db: Database
    ctx: ToolContext
    _claude: anthropic.Anthropic | None = field(default=None, init=False, repr=False)
    _claude_made: bool = field(default=False, init=False, repr=False)
    _router: Router | None = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def claude(self) -> anthropic.Anthropic | None:
        with self._lock:
            if not self._claude_made:
                self._claude, self._claude_made = claude_client(self.settings), True
        return self._claude

    def router(self) -> Router:
        """One router per process (thread memory and vocabulary cache are shared)."""
        from analytics.router import Router

        client = self.claude
        with self._lock:
            if self._router is None:
                self._router = Router(self.ctx, client=client, model=self.settings.anthropic_model)
            return self._router

    def close(self) -> None:
        self.db.close()


def build_services(settings: Settings, db: Database | None = None, *, cache: Cache | None | bool = True) -> Services:
    """Services on the configured database (embedded when DATABASE_URL is unset). `cache=True`
    builds the configured one (Redis or in-process), `None` runs without, or pass one."""
    db = db or connect_database(settings)
    if cache is True:
        cache = Cache.from_settings(settings)
    return Services(settings=settings, db=db, ctx=build_context(settings, db, cache or None))


@contextmanager
def open_services(settings: Settings) -> Iterator[Services]:
    services = build_services(settings)
    try:
        yield services
    finally:
        services.close()
