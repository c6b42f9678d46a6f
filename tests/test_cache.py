"""The cache: in-process TTL, Redis with generation invalidation, a new run changing answers, and
Redis dying mid-test (answers keep coming from PostgreSQL) then coming back."""
from __future__ import annotations

import logging
import shutil
import socket
import subprocess
import time
import uuid

import pytest
import redis

from analytics.cache import Cache
from analytics.context import after_discovery_run, build_context
from analytics.core import RUN_CHECK_SECONDS
from analytics.core import ToolContext
from analytics.tools.registry import run_tool
from tests.analytics_fixture import CURRENT, Profile, analytics_db, load_fixture, loaded, publish_new_run  # noqa: F401
from tests.conftest import REDIS_URL


def test_memory_cache_ttl_and_invalidation():
    cache = Cache(None)
    calls = []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert cache.get_or_compute("k", 60, compute) == 1
    assert cache.get_or_compute("k", 60, compute) == 1 and len(calls) == 1
    cache.set("short", "v", ttl=1)
    time.sleep(1.05)
    assert cache.get("short") is None
    cache.invalidate_all()
    assert cache.get_or_compute("k", 60, compute) == 2


def test_redis_cache_roundtrip_and_generation(redis_prefix):
    cache = Cache(REDIS_URL, prefix=redis_prefix + "rt:")
    cache.set("plain", {"a": [1, 2]})
    assert cache.get("plain") == {"a": [1, 2]}
    client = redis.Redis.from_url(REDIS_URL)
    assert client.keys(redis_prefix + "rt:g*:plain")  # stored under the prefix and a generation
    other_process = Cache(REDIS_URL, prefix=redis_prefix + "rt:")
    assert other_process.get("plain") == {"a": [1, 2]}
    cache.invalidate_all()
    assert cache.get("plain") is None
    time.sleep(Cache.GENERATION_CHECK_SECONDS + 0.05)   # another process sees the new generation in time
    assert other_process.get("plain") is None
    for key in client.scan_iter(redis_prefix + "rt:*"):
        client.delete(key)


def _customer_totals(ctx):
    return run_tool(ctx, "analyze_customers", {"limit": 3}).totals


def test_new_run_changes_answers(fresh_db, settings, redis_prefix):
    fx = load_fixture(fresh_db, settings)
    cache = Cache(REDIS_URL, prefix=redis_prefix + "run:")
    ctx = build_context(settings, fresh_db, cache)
    before = _customer_totals(ctx)
    lookup_before = run_tool(ctx, "lookup_customer", {"customer": "S001"}).customer
    assert before.customers_at_risk == 4

    # Everyone critical in the new run: a cached old answer would still say 4.
    doomed = {s: Profile(**{**p.__dict__, "churn": 0.95, "risk": "critical"}) for s, p in CURRENT.items()}
    publish_new_run(fresh_db, fx, doomed)     # as another process would: nobody tells this one
    time.sleep(RUN_CHECK_SECONDS + 0.05)      # the new current run is noticed within this interval
    after = _customer_totals(ctx)
    assert after.customers_at_risk == 10 and after.value_at_risk == after.lifetime_value
    assert run_tool(ctx, "lookup_customer", {"customer": "S001"}).customer.risk_level == "critical"
    assert lookup_before.risk_level == "low"

    # Same run, data changed under the cache: stale until invalidated, fresh after (with warming).
    with fresh_db.cursor() as cur:
        cur.execute("UPDATE customer_profiles SET risk_level = 'low' WHERE run_id = "
                    "(SELECT run_id FROM discovery_runs WHERE is_current)")
    assert _customer_totals(ctx).customers_at_risk == 10
    assert after_discovery_run(ctx) == 1   # one warm hook ran
    client = redis.Redis.from_url(REDIS_URL)
    assert any(b"analyze_customers" in k for k in client.scan_iter(redis_prefix + "run:*"))  # warmed
    assert _customer_totals(ctx).customers_at_risk == 0
    for key in client.scan_iter(redis_prefix + "run:*"):
        client.delete(key)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_redis(port: int) -> subprocess.Popen:
    process = subprocess.Popen([shutil.which("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(port=port)
    for _ in range(100):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("redis-server did not start")


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server binary not installed")
def test_redis_dies_mid_test_and_comes_back(loaded, settings, caplog):
    db, fx = loaded
    port = _free_port()
    server = _start_redis(port)
    try:
        cache = Cache(f"redis://127.0.0.1:{port}/0", prefix=f"t{uuid.uuid4().hex[:6]}:", retry_seconds=0.3)
        ctx = ToolContext(db=db, settings=settings, cache=cache)
        expected = run_tool(ctx, "analyze_customers", {}).totals
        lookup = run_tool(ctx, "lookup_customer", {"customer": "S004"})
        assert redis.Redis(port=port).dbsize() > 0

        server.kill()
        server.wait()
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="analytics.cache"):
            for _ in range(5):   # every answer still arrives, from PostgreSQL, without long stalls
                started = time.perf_counter()
                assert run_tool(ctx, "analyze_customers", {}).totals == expected
                assert run_tool(ctx, "lookup_customer", {"customer": "S004"}) == lookup
                assert time.perf_counter() - started < 2.0
        outage_warnings = [r for r in caplog.records if "unavailable" in r.getMessage()]
        assert len(outage_warnings) == 1   # logged once per outage, not per call
        assert not cache.available

        server = _start_redis(port)
        time.sleep(0.35)   # past retry_seconds: the next call tries Redis again
        for _ in range(3):
            assert run_tool(ctx, "analyze_customers", {}).totals == expected
        assert cache.available
        assert redis.Redis(port=port).dbsize() > 0   # answers are cached in Redis again
    finally:
        server.kill()
        server.wait()


def test_memory_cache_hands_out_copies():
    cache = Cache(None)
    cache.set("rows", {"a": [1]})
    cache.get("rows")["a"].append(2)
    assert cache.get("rows") == {"a": [1]}
