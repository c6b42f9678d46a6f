"""Thread memory in PostgreSQL: turns survive across instances, expire after the TTL, are capped
(oldest folded into a summary), and stored tool results are trimmed."""
from __future__ import annotations

import uuid
from datetime import date

from analytics.router.memory import MAX_ROWS_KEPT, ThreadMemory, trim_result
from analytics.router.offline import OfflineRouter
from analytics.periods import parse_period
from tests.router_questions import CASES, HELDOUT, VOCAB


def key() -> str:
    return f"slack:C123:{uuid.uuid4().hex}"


def call(tool: str, **arguments) -> dict:
    return {"tool": tool, "arguments": arguments, "result": {"tool": tool, "summary": f"{tool} ran"}, "error": None}


def test_turns_are_shared_between_instances_and_capped_with_a_summary(db):
    thread = key()
    writer = ThreadMemory(db, max_turns=3)
    for i in range(5):
        writer.append(thread, question=f"question {i}", answer=f"answer {i}", source="offline",
                      tool_calls=[call("analyze_customers", limit=i + 1)])
    summary, turns = ThreadMemory(db, max_turns=3).load(thread)
    assert [t["question"] for t in turns] == ["question 2", "question 3", "question 4"]
    assert turns[-1]["tool_calls"][0]["arguments"] == {"limit": 5}
    # the two dropped turns survive as one line each, oldest first
    assert summary.index("question 0") < summary.index("question 1")
    assert 'analyze_customers({"limit": 1})' in summary
    with db.cursor() as cur:
        count = cur.execute("SELECT count(*) AS n FROM router_turns WHERE thread_key = %s", (thread,)).fetchone()["n"]
    assert count == 3


def test_turns_expire_after_the_ttl(db):
    thread = key()
    memory = ThreadMemory(db, ttl_seconds=3600)
    memory.append(thread, question="old", answer="a", source="offline", tool_calls=[])
    with db.connection() as conn:
        conn.execute("UPDATE router_turns SET asked_at = now() - interval '2 hours' WHERE thread_key = %s", (thread,))
    assert memory.load(thread) == ("", [])
    memory.append(thread, question="new", answer="b", source="offline", tool_calls=[])
    _, turns = memory.load(thread)
    assert [t["question"] for t in turns] == ["new"]
    with db.cursor() as cur:  # the expired turn was purged, not just hidden
        left = cur.execute("SELECT count(*) AS n FROM router_turns WHERE thread_key = %s", (thread,)).fetchone()["n"]
    assert left == 1


def test_tool_results_are_trimmed_before_storing(db):
    rows = [{"public_id": f"C-{i:08d}", "churn_probability": 0.5} for i in range(40)]
    trimmed = trim_result({"tool": "analyze_customers", "summary": "40 customers", "rows": rows})
    assert len(trimmed["rows"]) == MAX_ROWS_KEPT and trimmed["rows_total_rows"] == 40
    huge = trim_result({"tool": "x", "summary": "s", "blob": "y" * 10_000})
    assert huge == {"tool": "x", "summary": "s", "trimmed": True}
    thread = key()
    ThreadMemory(db).append(thread, question="q", answer="a", source="offline",
                            tool_calls=[{"tool": "analyze_customers", "arguments": {}, "result":
                                         {"tool": "analyze_customers", "summary": "40 customers", "rows": rows}}])
    stored = ThreadMemory(db).load(thread)[1][0]["tool_calls"][0]["result"]
    assert len(stored["rows"]) == MAX_ROWS_KEPT


def test_no_thread_key_means_no_memory(db):
    memory = ThreadMemory(db)
    memory.append(None, question="q", answer="a", source="offline", tool_calls=[])
    assert memory.load(None) == ("", [])


def test_every_period_the_router_emits_parses_in_the_tools_grammar():
    router = OfflineRouter(VOCAB)
    periods = set()
    for case in CASES + HELDOUT:
        history = [{"tool_calls": [case.previous]}] if case.previous else []
        decision = router.route(case.question, history)
        if decision.arguments.get("period"):
            periods.add(decision.arguments["period"])
    assert len(periods) >= 8
    for period in periods:
        parsed = parse_period(period, date(2024, 12, 31))
        assert not parsed.is_all, period


def test_concurrent_writers_of_one_thread_keep_it_consistent(db):
    """A smoke test under real concurrency (it does not reliably catch a missing lock: the
    advisory lock in `append` is what guarantees each dropped turn is summarised once)."""
    from concurrent.futures import ThreadPoolExecutor

    thread = key()
    memory = ThreadMemory(db, max_turns=4)

    def write(i: int) -> None:
        memory.append(thread, question=f"q{i}", answer="a", source="offline",
                      tool_calls=[call("analyze_customers", limit=i + 1)])

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, range(12)))
    summary, turns = memory.load(thread)
    assert len(turns) == 4
    # every dropped turn is summarised exactly once
    assert sorted(line for line in summary.splitlines()) == sorted(
        f"- asked 'q{i}' -> analyze_customers({{\"limit\": {i + 1}}})" for i in range(12)
        if f"q{i}" not in {t["question"] for t in turns})


def test_a_broken_memory_does_not_stop_the_answer(db, settings):
    from analytics.router import Router
    from analytics.core import ToolContext

    class Broken(ThreadMemory):
        def load(self, thread_key):
            raise RuntimeError("database down")

        def append(self, *args, **kwargs):
            raise RuntimeError("database down")

    router = Router(ToolContext(db=db, settings=settings), client=None, memory=Broken(db), vocabulary=VOCAB)
    answer = router.answer("hmm", key())
    assert answer.clarification is not None and answer.source == "offline"


def test_a_question_with_control_characters_is_stored_without_them(db):
    thread = key()
    memory = ThreadMemory(db)
    nul_call = {"tool": "analyze_customers", "arguments": {"segment": "bad\x00name"},
                "result": {"tool": "analyze_customers", "summary": "no\x00 match\x07"}, "error": None}
    memory.append(thread, question="top\x00 customers\x1b?\nplease", answer="line one\x00\nline\ttwo",
                  source="offline", tool_calls=[nul_call], option_calls=[{"label": "x\x00y"}])
    _, turns = memory.load(thread)
    assert turns[0]["question"] == "top customers?\nplease"
    assert turns[0]["answer"] == "line one\nline\ttwo"
    assert turns[0]["tool_calls"][0]["arguments"] == {"segment": "badname"}
    assert turns[0]["tool_calls"][0]["result"]["summary"] == "no match"
    assert turns[0]["option_calls"] == [{"label": "xy"}]


def test_trimmed_list_keeps_its_rows_public_ids_for_follow_ups(db):
    rows = [{"public_id": f"C-{i:08X}", "note": "x" * 400} for i in range(30)]
    trimmed = trim_result({"tool": "analyze_customers", "summary": "30 customers", "rows": rows})
    # too big for the rows themselves: only the summary and the first rows' ids survive
    assert trimmed["trimmed"] and "rows" not in trimmed
    assert trimmed["row_ids"] == [f"C-{i:08X}" for i in range(20)]
    thread = key()
    memory = ThreadMemory(db)
    memory.append(thread, question="riskiest customers", answer="…", source="offline",
                  tool_calls=[{"tool": "analyze_customers", "arguments": {"sort_by": "churn_risk"},
                               "result": {"tool": "analyze_customers", "summary": "30", "rows": rows}}])
    decision = OfflineRouter(VOCAB).route("tell me about the 12th one", memory.history(thread))
    assert decision.to_json() == {"tool": "lookup_customer", "arguments": {"customer": "C-0000000B"}}
