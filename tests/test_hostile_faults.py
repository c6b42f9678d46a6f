"""Database faults (hostile-input issue, 5): a connection the server dropped is replaced before
use, and with the database down readiness and the Gorgias intake answer 503 at once."""
from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr
from starlette.testclient import TestClient

from sql.database import Database
from tests.fault_proxy import FaultProxy
from tests.fake_gorgias import ticket_payload


@pytest.fixture
def proxied(fresh_database_url):
    proxy = FaultProxy()
    url = fresh_database_url()
    db = Database(proxy.url_for(url), max_size=2)
    assert f":{proxy.port}/" in db.url
    yield proxy, db
    proxy.up() if proxy._listener is None else None
    db.close()
    proxy.close()


def test_a_dropped_pooled_connection_is_replaced_before_use(proxied):
    proxy, db = proxied
    with db.cursor() as cur:
        cur.execute("SELECT 1 AS one")
    proxy.drop()  # the server restarted while the connection sat in the pool
    time.sleep(0.1)
    with db.cursor() as cur:
        cur.execute("SELECT 2 AS two")
        assert cur.fetchone()["two"] == 2


def test_readiness_and_intake_answer_503_at_once_when_the_database_is_down(proxied, settings):
    from analytics.tools.registry import ToolContext
    from app import build_web_app

    proxy, db = proxied
    cfg = settings.model_copy(update={"gorgias_webhook_secret": SecretStr("s"), "slack_bot_token": None,
                                      "gorgias_domain": None})
    web = build_web_app(cfg, db, ctx=ToolContext(db=db, settings=cfg), background=False)
    with TestClient(web) as client:
        proxy.down()
        started = time.perf_counter()
        ready = client.get("/health/ready")
        ready_seconds = time.perf_counter() - started
        started = time.perf_counter()
        hook = client.post("/gorgias/webhook", content=json.dumps(ticket_payload(1, 2)).encode(),
                           headers={"X-Webhook-Token": "s", "Content-Type": "application/json"})
        hook_seconds = time.perf_counter() - started
        proxy.up()
        deadline = time.monotonic() + 15  # the pool reconnects with back-off; Gorgias re-delivers a 503
        while True:
            again = client.post("/gorgias/webhook", content=json.dumps(ticket_payload(1, 2)).encode(),
                                headers={"X-Webhook-Token": "s", "Content-Type": "application/json"})
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    assert ready.status_code == 503 and ready.json()["database"] == "unreachable"
    assert ready_seconds < 1.5, ready_seconds
    assert hook.status_code == 503 and hook_seconds < 1.5, (hook.status_code, hook_seconds)
    assert again.status_code == 200, again.text


# --- Slack questions survive a dropped connection -------------------------------------------------------

def _mention(ts: str) -> dict:
    return {"type": "app_mention", "user": "U0ALICE", "text": "<@UBOT> who is most likely to churn?", "ts": ts,
            "channel": "C0GENERAL", "event_ts": ts}


def test_a_mention_during_a_database_outage_is_still_answered(fresh_database_url, settings):
    from tests.test_slack_support import Harness

    proxy = FaultProxy()
    db = Database(proxy.url_for(fresh_database_url()), max_size=2, wait_timeout=1.0)
    harness = Harness(settings, db)
    try:
        proxy.down()  # the server restarts just as the mention is acknowledged
        assert harness.event(_mention("1700000100.000100")).status_code == 200
        update = harness.fake.wait_for("chat.update", timeout=15)[0].args
        assert update["channel"] == "C0GENERAL" and "Looking into it" not in update["text"]
    finally:
        proxy.up()
        harness.close()
        db.close()
        proxy.close()


class _DropsOnce:
    """A router whose first attempt dies on a dropped connection, as a restart mid-query does."""

    def __init__(self):
        from tests.test_slack_support import ScriptedRouter

        self.inner, self.attempts = ScriptedRouter(), 0
        self.questions = self.inner.questions

    def answer(self, question, thread_key, user):
        import psycopg

        self.attempts += 1
        if self.attempts == 1:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return self.inner.answer(question, thread_key, user)


def test_a_question_whose_connection_dropped_mid_answer_is_retried_once(settings, db):
    from bot.views import blocks as bk
    from tests.test_slack_support import Harness

    router = _DropsOnce()
    harness = Harness(settings, db, router=router)
    try:
        harness.event(_mention("1700000200.000100"))
        update = harness.fake.wait_for("chat.update", timeout=15)[0].args
        assert router.attempts == 2 and any(b["type"] == "table" for b in update["blocks"])
        assert bk.check_message_limits(update["blocks"]) == []
    finally:
        harness.close()
