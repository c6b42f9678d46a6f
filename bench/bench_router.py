"""Router latency, printed as tables (not a test).

1. Offline routing: every labelled question (tests/router_questions.py), many rounds, through
   OfflineRouter.route (pure CPU) and through Router.route with a thread key (adds the thread
   memory read from PostgreSQL). Goal: p99 <= 5 ms.
2. End-to-end `ask` without the model: Router.answer with no Claude client on a store with a
   discovery run (tool + rendering text + memory write + usage row), first pass (cold cache)
   and later passes (warm), per tool.

    python bench/bench_router.py --database-url postgresql://postgres@127.0.0.1:5432/cib_smoke_27000

Rows the bench writes (router_turns / router_threads / router_usage under thread keys 'bench:…')
are deleted at the end.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.router import Router  # noqa: E402
from analytics.router.offline import OfflineRouter  # noqa: E402
from settings import load_settings  # noqa: E402
from tests.router_questions import CASES, HELDOUT, VOCAB  # noqa: E402

ASK_QUESTIONS = [
    "who's about to churn?", "top 10 customers by value", "which whales are at risk",
    "customers who havent bought anything in a while", "most frequent buyers", "highest predicted value customers",
    "what segments do we have", "how have segments changed since last week", "what archetypes do we have",
    "what sold best last quarter", "top 10 products by revenue", "repeat purchase rate by category",
    "forecast revenue next quarter", "how many orders will we get in the next 6 weeks",
    "set up a win back campaign for lapsed customers", "vip campaign for whales",
    "one time buyers", "which customers are discount dependent", "any suggestions to grow revenue",
    "customers", "what's the weather like",
]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def row(label: str, samples_ms: list[float]) -> str:
    return (f"{label:<44} {len(samples_ms):>6} {pct(samples_ms, 50):>8.3f} {pct(samples_ms, 95):>8.3f} "
            f"{pct(samples_ms, 99):>8.3f} {max(samples_ms):>8.3f}")


HEADER = f"{'':<44} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8}"


def bench_offline(rounds: int) -> None:
    cases = CASES + HELDOUT
    router = OfflineRouter(VOCAB)
    cold: list[float] = []
    warm: list[float] = []
    cpu: list[float] = []
    for r in range(rounds):
        for case in cases:
            history = [{"tool_calls": [case.previous]}] if case.previous else []
            start, start_cpu = time.perf_counter(), time.thread_time()
            router.route(case.question, history)
            (cold if r == 0 else warm).append((time.perf_counter() - start) * 1000)
            cpu.append((time.thread_time() - start_cpu) * 1000)
    print("\nOffline routing (OfflineRouter.route, no I/O; labelled + held-out questions)")
    print(f"load average now: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall time includes waiting for a CPU)")
    print(HEADER)
    print(row("wall, first pass (typo memo empty)", cold))
    print(row(f"wall, next {rounds - 1} passes", warm))
    print(row("wall, all", cold + warm))
    print(row("CPU time of this thread, all", cpu))


def bench_route_with_memory(router: Router, rounds: int) -> None:
    thread = f"bench:{uuid.uuid4()}"
    router.answer("top 10 customers by value", thread)  # a thread with one turn to read back
    samples = []
    questions = [c.question for c in CASES if c.previous is None][:80]
    for _ in range(rounds):
        for question in questions:
            start = time.perf_counter()
            router.route(question, thread)
            samples.append((time.perf_counter() - start) * 1000)
    print("\nRouter.route with a thread key (adds the thread-memory read from PostgreSQL)")
    print(HEADER)
    print(row("route", samples))


def bench_ask(router: Router, passes: int) -> None:
    by_tool_cold: dict[str, list[float]] = defaultdict(list)
    by_tool_warm: dict[str, list[float]] = defaultdict(list)
    everything_cold, everything_warm = [], []
    errors = set()
    for p in range(passes):
        for question in ASK_QUESTIONS:
            thread = f"bench:{uuid.uuid4()}"
            start = time.perf_counter()
            answer = router.answer(question, thread)
            elapsed = (time.perf_counter() - start) * 1000
            tool = answer.tool_calls[0].tool if answer.tool_calls else (
                "(refusal)" if answer.refusal else "(clarification)")
            for call in answer.tool_calls:
                if call.error:
                    errors.add(f"{call.tool}: {call.error[:100]}")
            (by_tool_cold if p == 0 else by_tool_warm)[tool].append(elapsed)
            (everything_cold if p == 0 else everything_warm).append(elapsed)
    print("\nEnd-to-end ask without the model (Router.answer: route + tool + text + memory write + usage row)")
    print(HEADER)
    for tool in sorted(by_tool_cold):
        print(row(f"{tool} (first pass)", by_tool_cold[tool]))
        if by_tool_warm.get(tool):
            print(row(f"{tool} (later passes)", by_tool_warm[tool]))
    print(row("ALL first pass", everything_cold))
    if everything_warm:
        print(row("ALL later passes", everything_warm))
    if errors:
        print("tool errors seen:\n  " + "\n  ".join(sorted(errors)))


def cleanup(db) -> None:
    with db.connection() as conn:
        conn.execute("DELETE FROM router_turns WHERE thread_key LIKE 'bench:%%'")
        conn.execute("DELETE FROM router_threads WHERE thread_key LIKE 'bench:%%'")
        conn.execute("DELETE FROM router_usage WHERE thread_key LIKE 'bench:%%'")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"),
                        help="a store with a discovery run (default: DATABASE_URL)")
    parser.add_argument("--rounds", type=int, default=20, help="offline routing passes over the labelled set")
    parser.add_argument("--passes", type=int, default=5, help="ask passes over the question list")
    args = parser.parse_args()

    bench_offline(args.rounds)
    if not args.database_url:
        print("\n(no --database-url / DATABASE_URL: skipped the database benchmarks)")
        return 0

    from analytics.cache import Cache
    from analytics.context import build_context
    from sql import Database

    # A private cache prefix: invalidating it must not empty anyone else's cache.
    settings = load_settings(database_url=args.database_url, anthropic_api_key=None,
                             redis_key_prefix=f"cib-bench-router:{uuid.uuid4().hex[:8]}:")
    db = Database(args.database_url)
    try:
        with db.cursor() as cur:
            info = cur.execute("SELECT (SELECT count(*) FROM customers) AS customers, "
                               "(SELECT count(*) FROM orders) AS orders, "
                               "(SELECT run_id FROM discovery_runs WHERE is_current) AS run_id").fetchone()
        print(f"\nstore: {info['customers']:,} customers, {info['orders']:,} orders, current run {info['run_id']}")
        ctx = build_context(settings, db, Cache.from_settings(settings))
        if ctx.cache is not None:
            ctx.cache.invalidate_all()  # the first pass really is cold
        router = Router(ctx)
        bench_ask(router, args.passes)
        bench_route_with_memory(router, max(1, args.rounds // 4))
    finally:
        cleanup(db)
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
