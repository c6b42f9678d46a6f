"""The one rate limiter: at most `limit` requests per key in any `window` seconds (a sliding
window), used for Slack questions per user and per channel, Gorgias webhooks per source, MCP
clients and the Gorgias REST client's own pace. With Redis (through the answer cache's
connection) the window is shared by every instance; without Redis, or while it is down, each
process counts on its own, so a Redis outage loosens a limit rather than refusing everyone."""
from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections import deque
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from analytics.cache import Cache

# KEYS[1] the window's sorted set; ARGV limit, window (ms), member. Redis's own clock, so instances
# with skewed clocks still share one window. Returns 0 (counted) or the milliseconds to wait.
_SLIDING_WINDOW_LUA = """
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms - window)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now_ms, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now_ms)
"""

MAX_KEYS = 10_000   # in-process: forget the idlest keys beyond this many (a flood of sources)


class RateLimiter:
    """`check(key)` counts a request and returns 0, or returns the seconds until one may go (and
    counts nothing); `acquire()` waits for its turn instead (outbound calls); `pause()` holds a key
    back after the other side said 429. Thread-safe."""

    def __init__(self, name: str, limit: int, window_seconds: float, *, cache: Cache | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_seconds <= 0:
            raise ValueError(f"rate limit {name}: need at least 1 request per positive window, "
                             f"got {limit} per {window_seconds} s")
        self.name, self.limit, self.window = name, limit, float(window_seconds)
        self.clock = clock
        self._cache = cache if cache is not None and cache.backend == "redis" else None
        self._script = None
        self._starts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    @property
    def shared(self) -> bool:
        """True when the window is kept in Redis (shared by every instance)."""
        return self._cache is not None

    def check(self, key: str = "") -> float:
        if self._cache is not None:
            waited = self._check_redis(key)
            if waited is not None:
                return waited
        return self._check_local(key)

    async def check_async(self, key: str = "") -> float:
        """`check` for ASGI handlers: Redis's round trip runs off the event loop."""
        if self._cache is None:
            return self._check_local(key)
        return await asyncio.to_thread(self.check, key)

    def acquire(self, key: str = "", max_wait: float = float("inf")) -> float | None:
        """Block until a request may start; the seconds waited, or None (without waiting) when the
        turn is further away than `max_wait`."""
        waited = 0.0
        while True:
            pause = self.check(key)
            if pause <= 0:
                return waited
            if waited + pause > max_wait:
                return None
            time.sleep(pause)
            waited += pause

    def pause(self, key: str, seconds: float) -> None:
        """Nobody starts on `key` for `seconds` (in this process): fill its window to the brim."""
        with self._lock:
            until = self.clock() + seconds - self.window
            self._starts[key] = deque([until] * self.limit)

    def _check_local(self, key: str) -> float:
        now = self.clock()
        with self._lock:
            starts = self._starts.get(key)
            if starts is None:
                if len(self._starts) >= MAX_KEYS:
                    self._forget_idle(now)
                starts = self._starts[key] = deque()
            while starts and now - starts[0] >= self.window:
                starts.popleft()
            if len(starts) < self.limit:
                starts.append(now)
                return 0.0
            return self.window - (now - starts[0])

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, starts in self._starts.items() if not starts or now - starts[-1] >= self.window]
        for key in idle or sorted(self._starts, key=lambda k: self._starts[k][-1])[: MAX_KEYS // 2]:
            del self._starts[key]

    def _check_redis(self, key: str) -> float | None:
        """The shared window's answer, or None when Redis cannot answer now (the cache marks it
        down for a few seconds and this process counts alone meanwhile)."""
        redis_key = f"{self._cache.prefix}limit:{self.name}:{key}"
        window_ms = int(self.window * 1000)

        def run(client):
            if self._script is None:
                self._script = client.register_script(_SLIDING_WINDOW_LUA)
            return self._script(keys=[redis_key], args=[self.limit, window_ms, uuid.uuid4().hex], client=client)

        answer = self._cache.shared_call(run)
        return None if answer is None else int(answer) / 1000.0
