"""The load-and-fault suite (bench/bench_faults.py) in its smallest configuration, so CI keeps it
alive: two app instances, 20 webhooks and 10 Slack questions while discovery runs, then Redis
stopped mid-load and started again. The full run (`python bench/bench_faults.py`) adds the
PostgreSQL restart and the Anthropic faults."""
from __future__ import annotations

import pytest

from bench.bench_faults import SMALLEST, failures, run_suite


def test_the_smallest_fault_suite_loses_nothing_and_recovers(fresh_database_url):
    table, results = run_suite(SMALLEST, database_url=fresh_database_url())

    assert failures(table, results) == []
    by_phase = {(row["phase"], row["kind"]): row for row in table}
    load, redis = by_phase[("load + discovery", "webhooks")], by_phase[("Redis stopped", "questions")]
    assert load["requests"] == SMALLEST.webhooks
    assert by_phase[("load + discovery", "questions")]["requests"] == SMALLEST.questions
    assert redis["recovery"] is not None and redis["recovery"] < SMALLEST.settle_timeout
    assert all(row["lost"] == 0 and row["duplicated"] == 0 for row in table)
    assert results[0].discovery.startswith("published")


def _row(**changes) -> dict:
    row = {"phase": "Redis stopped", "kind": "questions", "requests": 10, "p50": 0.01, "p95": 0.02, "p99": 0.03,
           "errors": 0, "lost": 0, "duplicated": 0, "done_p95": 0.2, "ack_max": 0.1, "recovery": 0.5, "fault": True}
    return {**row, **changes}


@pytest.mark.parametrize("changes, expected", [
    ({"lost": 1}, "1 lost"),
    ({"duplicated": 2}, "2 duplicated"),
    ({"recovery": None}, "never recovered"),
    ({"ack_max": 3.2}, "a Slack ack took 3.20 s"),
])
def test_the_suite_fails_on_lost_duplicated_unrecovered_or_slow_acks(changes, expected):
    assert failures([_row()], []) == []
    [problem] = failures([_row(**changes)], [])
    assert expected in problem


# --- an answer posted just before the database went down is not answered again ---------------------

class _AnswersThenCutsTheDatabase:
    """Answers, then takes the database away (for `outage` seconds) before the question can be
    marked answered: the moment between posting the answer and recording it."""

    def __init__(self, proxy, outage: float) -> None:
        from tests.test_slack_support import ScriptedRouter

        self.inner, self.proxy, self.outage = ScriptedRouter(), proxy, outage
        self.questions = self.inner.questions

    def answer(self, question, thread_key, user):
        import threading

        answer = self.inner.answer(question, thread_key, user)
        self.proxy.down()
        threading.Timer(self.outage, self.proxy.up).start()
        return answer


def test_a_question_answered_as_the_database_went_down_is_not_answered_again(fresh_database_url, settings):
    import time

    from bot.answering import retry_due_questions
    from sql.database import Database
    from tests.fault_proxy import FaultProxy
    from tests.test_slack_support import Harness

    proxy = FaultProxy()
    db = Database(proxy.url_for(fresh_database_url()), max_size=2, wait_timeout=1.0)
    harness = Harness(settings, db, router=_AnswersThenCutsTheDatabase(proxy, outage=3.0))
    try:
        harness.event({"type": "app_mention", "user": "U0ALICE", "text": "<@UBOT> who churns?",
                       "ts": "1700000600.000100", "channel": "C0GENERAL", "event_ts": "1700000600.000100"})
        harness.fake.wait_for("chat.update", timeout=15)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with db.cursor(timeout=0.5) as cur:
                    status = cur.execute("SELECT status FROM slack_questions").fetchone()["status"]
            except Exception:  # noqa: BLE001 - still down
                status = None
            if status == "answered":
                break
            time.sleep(0.2)
        assert status == "answered"
        with db.cursor() as cur:   # the lease runs out: the sweep must find nothing to answer again
            cur.execute("UPDATE slack_questions SET next_attempt_at = now() - interval '1 second'")
        assert retry_due_questions(harness.slack_app) == 0
        assert len(harness.fake.calls_to("chat.update")) == 1
    finally:
        proxy.up() if proxy._listener is None else None
        harness.close()
        db.close()
        proxy.close()
