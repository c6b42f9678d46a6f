"""A circuit breaker around the process's one Claude client. While the Anthropic API hangs or fails,
every question and every Gorgias draft would otherwise wait out the client's timeout and retry
(30 s with the defaults) before the offline router or the template answers, so answers queue behind
the few answer slots. After FAILURES_TO_OPEN calls in a row fail on the connection, a timeout, 429
or a 5xx, calls fail at once for OPEN_SECONDS; then the next call is a trial: success closes the
breaker, another failure opens it again. The router and the drafts already treat the failure as
"Claude unavailable"."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import anthropic

log = logging.getLogger(__name__)

FAILURES_TO_OPEN = 3
OPEN_SECONDS = 15.0


class ClaudeCircuitOpen(anthropic.APIConnectionError):
    """Raised instead of calling the API while the breaker is open."""


def is_outage(exc: BaseException) -> bool:
    """A failure that says the API is unwell, not that our request was wrong (400, 401, 404 …)."""
    if isinstance(exc, anthropic.APIConnectionError):   # timeouts included
        return True
    return isinstance(exc, anthropic.APIStatusError) and (exc.status_code == 429 or exc.status_code >= 500)


class ClaudeBreaker:
    """Wraps an `anthropic.Anthropic`: `messages.create` goes through the breaker, everything else
    is the client's own."""

    def __init__(self, client: anthropic.Anthropic, *, failures_to_open: int = FAILURES_TO_OPEN,
                 open_seconds: float = OPEN_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.failures_to_open = failures_to_open
        self.open_seconds = open_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._open_until = 0.0
        self._last_request = None
        self.messages = _GuardedMessages(self, client.messages)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    @property
    def is_open(self) -> bool:
        with self._lock:
            return self._clock() < self._open_until

    def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            left = self._open_until - self._clock()
            if left > 0:
                raise ClaudeCircuitOpen(message=f"Claude calls paused for {left:.0f} s after "
                                                f"{self._failures} failures in a row", request=self._last_request)
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            if is_outage(exc):
                self._failed(exc)
            raise
        self._succeeded()
        return result

    def _failed(self, exc: Exception) -> None:
        with self._lock:
            self._failures += 1
            self._last_request = getattr(exc, "request", None)
            if self._failures >= self.failures_to_open:
                self._open_until = self._clock() + self.open_seconds
                log.warning("Claude failed %d times in a row (%s); answering without it for %g s",
                            self._failures, type(exc).__name__, self.open_seconds)

    def _succeeded(self) -> None:
        with self._lock:
            if self._failures >= self.failures_to_open:
                log.warning("Claude answers again")
            self._failures = 0
            self._open_until = 0.0


class _GuardedMessages:
    def __init__(self, breaker: ClaudeBreaker, messages: Any) -> None:
        self._breaker, self._messages = breaker, messages

    def create(self, *args: Any, **kwargs: Any) -> Any:
        return self._breaker.call(self._messages.create, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._messages, name)
