"""The one answer cache: Redis when REDIS_URL is set, an in-process TTL dict otherwise.

Keys live under `REDIS_KEY_PREFIX` + a generation number, so invalidating everything after a
discovery run is one INCR. Redis is an accelerator, never a dependency: when it is unreachable the
caller's function runs against PostgreSQL, a warning is logged once per outage, and the cache
tries Redis again after a short pause.
"""
from __future__ import annotations

import copy
import json
import logging
import threading
import time
from typing import Any, Callable, TypeVar

from pydantic import BaseModel

from observability import metrics

log = logging.getLogger(__name__)

T = TypeVar("T")
_MISSING = object()


class _MemoryStore:
    """A bounded TTL dict for one process (values are kept as objects: nothing is serialised)."""

    def __init__(self, max_entries: int = 20_000) -> None:
        self._data: dict[str, tuple[float, Any]] = {}
        self._lock = threading.Lock()
        self._max = max_entries

    def get(self, key: str) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return _MISSING
            if item[0] < time.monotonic():
                del self._data[key]
                return _MISSING
            return item[1]

    def set(self, key: str, value: Any, ttl: float) -> None:
        with self._lock:
            if len(self._data) >= self._max:
                self._evict()
            self._data[key] = (time.monotonic() + ttl, value)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()

    def _evict(self) -> None:
        now = time.monotonic()
        for key in [k for k, (expires, _) in self._data.items() if expires < now]:
            del self._data[key]
        if len(self._data) >= self._max:  # still full: drop the half closest to expiry
            for key, _ in sorted(self._data.items(), key=lambda kv: kv[1][0])[: self._max // 2]:
                del self._data[key]


class Cache:
    """get / set / get_or_compute / invalidate_all, plus warm hooks run after invalidation."""

    GENERATION_CHECK_SECONDS = 1.0

    def __init__(self, redis_url: str | None = None, *, prefix: str = "cib:", default_ttl: int = 900,
                 retry_seconds: float = 5.0, socket_timeout: float = 0.25) -> None:
        self.prefix = prefix
        self.default_ttl = default_ttl
        self.retry_seconds = retry_seconds
        self._memory = _MemoryStore() if not redis_url else None
        self._redis = None
        self._down_until = 0.0
        self._outage_logged = False
        self._warm_hooks: list[Callable[[], None]] = []
        self._generation: int | None = None
        self._generation_checked_at = 0.0
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(
                redis_url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout,
                health_check_interval=0, retry_on_timeout=False,
            )

    @classmethod
    def from_settings(cls, settings) -> "Cache":
        return cls(settings.redis_url, prefix=settings.redis_key_prefix, default_ttl=settings.cache_ttl_seconds,
                   socket_timeout=settings.redis_socket_timeout_seconds)

    @property
    def backend(self) -> str:
        return "redis" if self._redis is not None else "memory"

    def ping(self) -> bool | None:
        """For readiness: does Redis answer right now (within the socket timeout)? None without Redis."""
        if self._redis is None:
            return None
        try:
            return bool(self._redis.ping())
        except Exception:  # noqa: BLE001 - any failure means "not answering"
            return False

    @property
    def available(self) -> bool:
        """False while Redis is considered down (answers then bypass the cache)."""
        return self._redis is None or time.monotonic() >= self._down_until

    # --- Redis plumbing ---------------------------------------------------------------------------

    def _generation_key(self) -> str:
        return self.prefix + "generation"

    def _redis_call(self, fn: Callable[[Any], T]) -> T | object:
        """Run fn(redis); on a connection problem mark Redis down and return _MISSING."""
        import redis

        if time.monotonic() < self._down_until:
            return _MISSING
        try:
            result = fn(self._redis)
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            self._down_until = time.monotonic() + self.retry_seconds
            if not self._outage_logged:
                log.warning("Redis cache unavailable (%s); answering from PostgreSQL until it is back",
                            type(exc).__name__)
                self._outage_logged = True
            return _MISSING
        if self._outage_logged:
            # Invalidations may have been missed while we could not reach Redis: start a new generation.
            self._outage_logged = False
            log.warning("Redis cache is reachable again")
            try:
                self._generation = int(self._redis.incr(self._generation_key()))
                self._generation_checked_at = time.monotonic()
            except Exception:  # noqa: BLE001 - a second failure is handled on the next call
                self._generation = None
            return _MISSING
        return result

    def _full_key(self, r, key: str) -> str:
        # The generation is re-read at most every GENERATION_CHECK_SECONDS: one Redis round trip
        # saved per answer; another process's invalidation is seen within that interval (this
        # process's own invalidate_all() is seen at once).
        now = time.monotonic()
        if self._generation is None or now >= self._generation_checked_at + self.GENERATION_CHECK_SECONDS:
            self._generation = int(r.get(self._generation_key()) or 0)
            self._generation_checked_at = now
        return f"{self.prefix}g{self._generation}:{key}"

    # --- public API -------------------------------------------------------------------------------

    def shared_call(self, fn: Callable[[Any], T]) -> T | None:
        """fn(redis) on the cache's connection for other shared state (the rate limiter's windows),
        with the same outage handling; None without Redis or while it is down."""
        if self._redis is None:
            return None
        result = self._redis_call(fn)
        return None if result is _MISSING else result

    def get(self, key: str, model: type[BaseModel] | None = None) -> Any:
        """The cached value or None. With `model`, the value is parsed back into that pydantic model."""
        if self._memory is not None:
            value = self._memory.get(key)
            if value is _MISSING:
                return None
            # A copy, as Redis would give: a caller changing its answer must not change the cache.
            return value.model_copy(deep=True) if isinstance(value, BaseModel) else copy.deepcopy(value)
        raw = self._redis_call(lambda r: r.get(self._full_key(r, key)))
        if raw is _MISSING or raw is None:
            return None
        return model.model_validate_json(raw) if model is not None else json.loads(raw)

    def set(self, key: str, value: Any, ttl: int | None = None) -> None:
        ttl = ttl or self.default_ttl
        if self._memory is not None:
            self._memory.set(key, value, ttl)
            return
        raw = value.model_dump_json() if isinstance(value, BaseModel) else json.dumps(value, default=str)
        self._redis_call(lambda r: r.set(self._full_key(r, key), raw, ex=int(ttl)))

    def get_or_compute(self, key: str, ttl: int | None, fn: Callable[[], T],
                       model: type[BaseModel] | None = None) -> T:
        """The cached value, or fn()'s result (stored for `ttl` seconds). Never fails because of the cache."""
        cached = self.get(key, model)
        metrics.CACHE_LOOKUPS.labels("miss" if cached is None else "hit", self.backend).inc()
        if cached is not None:
            return cached
        value = fn()
        self.set(key, value, ttl)
        return value

    def invalidate_all(self) -> None:
        """Forget every cached answer (after a discovery run publishes)."""
        if self._memory is not None:
            self._memory.clear()
            return
        generation = self._redis_call(lambda r: r.incr(self._generation_key()))
        if generation is not _MISSING:
            self._generation, self._generation_checked_at = int(generation), time.monotonic()
        else:
            self._generation = None   # unknown: re-read when Redis answers again

    def add_warm_hook(self, hook: Callable[[], None]) -> None:
        """Register a function that precomputes common answers; run by `warm()`."""
        self._warm_hooks.append(hook)

    def warm(self) -> int:
        """Run the warm hooks; a failing hook is logged and skipped. Returns how many succeeded."""
        done = 0
        for hook in self._warm_hooks:
            try:
                hook()
                done += 1
            except Exception:  # noqa: BLE001 - warming is best effort, answers compute on demand
                log.exception("cache warm hook %r failed", getattr(hook, "__name__", hook))
        return done

    def refresh(self) -> int:
        """invalidate_all() then warm(): what a finished discovery run calls."""
        self.invalidate_all()
        return self.warm()

    def close(self) -> None:
        if self._redis is not None:
            self._redis.close()
