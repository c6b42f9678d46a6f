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
    from analytics.core import ToolContext
    from wiring.web import build_web_app

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


# --- the durable question record ------------------------------------------------------------------------

class _DownThenUp:
    """A router that fails on the connection until `healed`, then answers."""

    def __init__(self):
        from tests.test_slack_support import ScriptedRouter

        self.inner, self.healed = ScriptedRouter(), False
        self.questions = self.inner.questions

    def answer(self, question, thread_key, user):
        import psycopg

        if not self.healed:
            raise psycopg.OperationalError("server closed the connection unexpectedly")
        return self.inner.answer(question, thread_key, user)


def _questions(db) -> list[dict]:
    with db.cursor() as cur:
        cur.execute("SELECT * FROM slack_questions ORDER BY question_id")
        return cur.fetchall()


def _expire_leases(db) -> None:
    with db.cursor() as cur:
        cur.execute("UPDATE slack_questions SET next_attempt_at = now() - interval '1 second'")


def test_a_question_that_could_not_be_answered_is_answered_by_the_retry_sweep(fresh_db, settings):
    from bot.answering import retry_due_questions
    from tests.test_slack_support import Harness

    router = _DownThenUp()
    harness = Harness(settings, fresh_db, router=router)
    try:
        harness.event(_mention("1700000300.000100"))
        apology = harness.fake.wait_for("chat.update", timeout=15)[0].args
        assert "I'll answer here" in apology["text"]
        [row] = _questions(fresh_db)
        assert row["status"] == "pending" and row["thread_ts"] == "1700000300.000100"
        router.healed = True
        assert retry_due_questions(harness.slack_app) == 0  # its lease has not run out yet
        _expire_leases(fresh_db)
        assert retry_due_questions(harness.slack_app) == 1
        answer = harness.fake.wait_for("chat.update", count=2, timeout=15)[1].args
        assert any(b["type"] == "table" for b in answer["blocks"])
        assert _questions(fresh_db)[0]["status"] == "answered"
    finally:
        harness.close()


def test_a_question_left_by_a_crash_is_answered_and_one_that_keeps_failing_gets_a_final_apology(fresh_db, settings):
    from bot.answering import retry_due_questions
    from bot.questions import MAX_ATTEMPTS
    from tests.test_slack_support import Harness

    router = _DownThenUp()
    harness = Harness(settings, fresh_db, router=router)
    try:
        with fresh_db.cursor() as cur:  # the process died after recording it, before answering
            cur.execute("INSERT INTO slack_questions (channel_id, thread_ts, user_id, question, listener)"
                        " VALUES ('C0GENERAL', '1700000400.000100', 'U0ALICE', 'who churns?', 'app_mention')")
        for _ in range(MAX_ATTEMPTS):
            _expire_leases(fresh_db)
            retry_due_questions(harness.slack_app)
        assert _questions(fresh_db)[0]["status"] == "apologised"
        updates = [c.args for c in harness.fake.calls_to("chat.update")]
        assert "I'll answer here" in updates[0]["text"]          # attempt 2: will retry
        assert "couldn't answer that just now" in updates[-1]["text"]  # attempt 3: the last, an apology
        assert len(updates) == MAX_ATTEMPTS - 1
        _expire_leases(fresh_db)
        assert retry_due_questions(harness.slack_app) == 0
    finally:
        harness.close()


def test_a_question_whose_last_attempt_died_gets_a_final_apology(fresh_db, settings):
    from bot.answering import retry_due_questions
    from bot.questions import MAX_ATTEMPTS
    from tests.test_slack_support import Harness

    harness = Harness(settings, fresh_db)
    try:
        with fresh_db.cursor() as cur:  # the last attempt's process died too
            cur.execute("INSERT INTO slack_questions (channel_id, thread_ts, question, listener, attempts)"
                        " VALUES ('C0GENERAL', '1700000450.000100', 'who churns?', 'app_mention', %s)",
                        (MAX_ATTEMPTS,))
        _expire_leases(fresh_db)
        assert retry_due_questions(harness.slack_app) == 1
        final = harness.fake.calls_to("chat.postMessage")[-1].args
        assert "couldn't answer “who churns?”" in final["text"] and final["thread_ts"] == "1700000450.000100"
        assert _questions(fresh_db)[0]["status"] == "apologised"
    finally:
        harness.close()


def test_answered_questions_are_marked(fresh_db, settings):
    from tests.test_slack_support import Harness

    harness = Harness(settings, fresh_db)
    try:
        harness.event(_mention("1700000500.000100"))
        harness.fake.wait_for("chat.update", timeout=15)
        deadline = time.monotonic() + 5
        while _questions(fresh_db)[0]["status"] == "pending" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _questions(fresh_db)[0]["status"] == "answered"
    finally:
        harness.close()
