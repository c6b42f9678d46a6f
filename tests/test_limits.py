"""Limits (operations issue, item 4): Slack questions per person and per channel answered with a
friendly note and no tool call, a webhook source over its limit gets 429 with Retry-After, the
limiter's window shared through Redis and loosened (never closed) while Redis is down, and every
outbound client built with a finite timeout."""
from __future__ import annotations

import json
import math
import time

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from analytics.cache import Cache
from analytics.limits import RateLimiter
from observability import metrics
from tests.conftest import REDIS_URL
from tests.fake_gorgias import ticket_payload
from tests.test_slack_support import Harness


def _mention(text: str, *, user: str = "U0ALICE", channel: str = "C0GENERAL", ts: str | None = None) -> dict:
    ts = ts or f"{time.time():.6f}"
    return {"type": "app_mention", "user": user, "text": f"<@UBOT> {text}", "ts": ts, "channel": channel,
            "event_ts": ts}


def _limited(metric_limit: str) -> float:
    return metrics.REGISTRY.get_sample_value("cib_rate_limited_total", {"limit": metric_limit}) or 0.0


def _wait_until(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.02)


# --- Slack ------------------------------------------------------------------------------------------

def test_a_persons_third_question_in_the_window_gets_a_friendly_note_and_no_answer(fresh_db, settings):
    h = Harness(settings, fresh_db, slack_user_questions=2, slack_channel_questions=100,
                slack_rate_window_seconds=60)
    before = _limited("slack_user")
    try:
        for n in range(3):
            assert h.event(_mention(f"who is at risk {n}?")).status_code == 200
        note = h.fake.wait_for("chat.postEphemeral", timeout=20)[0].args
        h.fake.wait_for("chat.update", count=2, timeout=20)
        assert note["user"] == "U0ALICE" and note["channel"] == "C0GENERAL"
        wait = int(note["text"].split("in about ")[1].split()[0])
        assert "ask again" in note["text"] and 50 <= wait <= 60
        assert len(h.router.questions) == 2                         # the third never reached the router
        assert _limited("slack_user") == before + 1
        # Someone else in the same channel has a bucket of their own.
        h.event(_mention("and for me?", user="U0BOB"))
        _wait_until(lambda: len(h.router.questions) == 3)
        assert h.router.questions[-1][2] == "U0BOB"
    finally:
        h.close()


def test_a_busy_channel_is_limited_whoever_asks(fresh_db, settings):
    h = Harness(settings, fresh_db, slack_user_questions=100, slack_channel_questions=2)
    try:
        for user in ("U0A", "U0B", "U0C"):
            h.event(_mention("who is at risk?", user=user))
        note = h.fake.wait_for("chat.postEphemeral", timeout=20)[0].args
        assert note["user"] == "U0C" and "ask again" in note["text"]
        h.fake.wait_for("chat.update", count=2, timeout=20)
        assert sorted(q[2] for q in h.router.questions) == ["U0A", "U0B"]
        h.event(_mention("and here?", user="U0C", channel="C0OTHER"))   # another channel: its own window
        _wait_until(lambda: len(h.router.questions) == 3)
    finally:
        h.close()


def test_slash_commands_count_too_and_the_note_is_ephemeral(fresh_db, settings):
    h = Harness(settings, fresh_db, slack_user_questions=1)
    try:
        h.command("/churn-check", "C-1A2B3C4D")
        h.fake.wait_for("chat.postMessage", timeout=20)
        h.command("/churn-check", "C-1A2B3C4D")
        reply = h.fake.wait_for("response_url", timeout=20)[0].args
        assert reply["response_type"] == "ephemeral" and "ask again" in reply["text"]
        assert [tool for tool, _ in h.tools.calls] == ["lookup_customer"]   # one tool call, not two
    finally:
        h.close()


# --- the Gorgias webhook ------------------------------------------------------------------------------

def test_webhook_source_over_its_limit_gets_429_with_retry_after_and_nothing_stored(fresh_db, settings):
    from starlette.applications import Starlette

    from analytics.context import build_context
    from wiring import Services
    from wiring.web import gorgias_service

    cfg = settings.model_copy(update={"gorgias_webhook_secret": SecretStr("hook-secret-1"),
                                      "gorgias_webhook_requests": 2, "gorgias_webhook_window_seconds": 30,
                                      "gorgias_domain": None, "redis_url": None})
    service = gorgias_service(Services(settings=cfg, db=fresh_db, ctx=build_context(cfg, fresh_db, None)))
    app = Starlette(routes=service.routes())
    headers = {"X-Webhook-Token": "hook-secret-1", "Content-Type": "application/json"}
    try:
        with TestClient(app) as client:
            codes = [client.post("/gorgias/webhook", content=json.dumps(ticket_payload(90 + n, 900 + n)),
                                 headers=headers) for n in range(3)]
    finally:
        service.stop()
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert 1 <= int(codes[2].headers["retry-after"]) <= 30 and codes[2].json()["status"] == "rate_limited"
    with fresh_db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM gorgias_inbox")
        assert cur.fetchone()["n"] == 2


# --- the limiter itself -------------------------------------------------------------------------------

def test_instances_sharing_redis_share_one_window(redis_prefix):
    first = RateLimiter("shared_test", 3, 30, cache=Cache(REDIS_URL, prefix=redis_prefix))
    second = RateLimiter("shared_test", 3, 30, cache=Cache(REDIS_URL, prefix=redis_prefix))
    key = f"user-{time.time_ns()}"
    assert first.shared and second.shared
    assert [first.check(key), second.check(key), first.check(key)] == [0.0, 0.0, 0.0]
    wait = second.check(key)
    assert 29 <= wait <= 30                                   # the fourth, at the other instance
    assert first.check("someone-else") == 0.0


def test_redis_down_falls_back_to_counting_in_process():
    dead = Cache("redis://127.0.0.1:1/0", socket_timeout=0.1)
    limiter = RateLimiter("fallback_test", 2, 30, cache=dead)
    assert [limiter.check("u"), limiter.check("u")] == [0.0, 0.0]
    assert limiter.check("u") > 0                             # still limited, by this process alone


def test_acquire_waits_for_the_window_and_pause_holds_everyone_back():
    limiter = RateLimiter("gorgias_api", 2, 0.3)
    started = time.monotonic()
    assert [limiter.acquire(), limiter.acquire()] == [0.0, 0.0]
    assert limiter.acquire(max_wait=0.05) is None             # too far away: no waiting at all
    assert limiter.acquire() > 0.2 and time.monotonic() - started >= 0.28
    limiter.pause("", 0.5)
    assert limiter.check() == pytest.approx(0.5, abs=0.05)


# --- timeouts ------------------------------------------------------------------------------------------

def test_every_outbound_client_has_a_finite_timeout(settings):
    import httpx

    from bot.app import web_client
    from gorgias.client import GorgiasClient
    from sql import connect_database
    from wiring import claude_client

    cfg = settings.model_copy(update={
        "slack_bot_token": SecretStr("xoxb-timeout-test"), "anthropic_api_key": SecretStr("sk-timeout-test"),
        "gorgias_domain": "timeouts", "gorgias_username": "agent@store.test",
        "gorgias_api_key": SecretStr("timeout-test-key"), "slack_timeout_seconds": 7,
        "anthropic_timeout_seconds": 9, "gorgias_timeout_seconds": 11, "redis_socket_timeout_seconds": 0.5,
        "database_connect_timeout_seconds": 4})
    assert web_client(cfg).timeout == 7
    claude = claude_client(cfg)
    assert claude.timeout == 9 and claude.max_retries == cfg.anthropic_max_retries
    gorgias = GorgiasClient(cfg)
    try:
        timeout: httpx.Timeout = gorgias.http.timeout
        assert all(t is not None and math.isfinite(t) and t <= 11
                   for t in (timeout.connect, timeout.read, timeout.write, timeout.pool))
        assert gorgias.http._transport.timeout == 11
    finally:
        gorgias.close()
    redis_kwargs = Cache.from_settings(cfg)._redis.connection_pool.connection_kwargs
    assert redis_kwargs["socket_timeout"] == 0.5 and redis_kwargs["socket_connect_timeout"] == 0.5
    db = connect_database(cfg)
    try:
        assert db.pool.kwargs["connect_timeout"] == 4 and db.connect_timeout == 4
    finally:
        db.close()


def test_statement_timeout_applies_to_pooled_connections(fresh_database_url):
    from sql.database import Database

    db = Database(fresh_database_url(), statement_timeout=0.2)
    try:
        with db.cursor() as cur:
            cur.execute("SHOW statement_timeout")
            assert cur.fetchone()["statement_timeout"] == "200ms"
    finally:
        db.close()


# Constructors of clients that leave the process. A new one (a Shopify client, say) is caught here
# until it is given a deadline.
OUTBOUND_CONSTRUCTORS = ("httpx.Client", "httpx.AsyncClient", "WebClient", "AsyncWebClient", "anthropic.Anthropic",
                         "Anthropic", "AsyncAnthropic", "redis.Redis", "redis.Redis.from_url", "Redis.from_url",
                         "psycopg.connect", "ConnectionPool", "urlopen", "http.client.HTTPConnection",
                         "http.client.HTTPSConnection", "requests.get", "requests.post", "requests.Session")
TIMEOUT_KEYWORDS = {"timeout", "connect_timeout", "socket_timeout"}


def test_no_outbound_client_is_built_without_a_timeout_in_the_code():
    import ast

    from tests.test_architecture import project_modules

    found, missing = [], []
    for module, path in project_modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and ast.unparse(node.func) in OUTBOUND_CONSTRUCTORS:
                found.append(module)
                if not TIMEOUT_KEYWORDS & {k.arg for k in node.keywords}:
                    missing.append(f"{module}:{node.lineno} {ast.unparse(node.func)}")
    assert {"bot.app", "wiring", "gorgias.client", "analytics.cache", "sql.database"} <= set(found)
    assert missing == [], f"outbound clients without a timeout: {missing}"
