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
