"""What a rate-limit check costs per request: the in-process window and the Redis one (one Lua
script on the shared Redis), on one key and spread over many keys, plus the same with Redis down
(the cache marks it down; checks fall back to the process's own window).

    python bench/bench_limits.py [--calls 5000] [--redis redis://127.0.0.1:6379/0]

Prints one table: microseconds per check (p50 / p95 / p99) and checks per second, single thread.
"""
from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_tools import percentile  # noqa: E402

from analytics.cache import Cache  # noqa: E402
from analytics.limits import RateLimiter  # noqa: E402


def measure(limiter: RateLimiter, calls: int, keys: int) -> tuple[float, float, float, float]:
    took = []
    started = time.perf_counter()
    for n in range(calls):
        before = time.perf_counter()
        limiter.check(f"key-{n % keys}")
        took.append((time.perf_counter() - before) * 1e6)
    elapsed = time.perf_counter() - started
    return percentile(took, 0.5), percentile(took, 0.95), percentile(took, 0.99), calls / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    prefix = f"cibbench:{uuid.uuid4().hex[:8]}:"
    # Limits far above the calls made: every check is the "allowed" path, the common one.
    cases = [
        ("in-process", lambda: RateLimiter("bench", 10**9, 60, cache=None)),
        ("redis", lambda: RateLimiter("bench", 10**9, 60, cache=Cache(args.redis, prefix=prefix))),
        ("redis down (fallback)", lambda: RateLimiter("bench", 10**9, 60,
                                                      cache=Cache("redis://127.0.0.1:1/0", socket_timeout=0.1))),
    ]
    print(f"{'backend':<24} {'keys':>6} {'p50 µs':>8} {'p95 µs':>8} {'p99 µs':>8} {'checks/s':>10}")
    for name, make in cases:
        for keys in (1, 1000):
            limiter = make()
            limiter.check("warm-up")
            p50, p95, p99, rate = measure(limiter, args.calls, keys)
            print(f"{name:<24} {keys:>6} {p50:>8.1f} {p95:>8.1f} {p99:>8.1f} {rate:>10,.0f}")
    cleanup = Cache(args.redis, prefix=prefix)
    cleanup.shared_call(lambda r: [r.delete(k) for k in r.scan_iter(prefix + "*")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
