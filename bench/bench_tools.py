"""Latency of every analytics tool on the 27k-customer synthetic store, cold and warm cache.

    python bench/bench_tools.py [--customers 27000] [--repeat 40] [--cache redis|memory]

Builds the store once in its own database (generate + import + two discovery runs 28 days apart, so
analyze_behavior has an earlier run), then prints p50/p95/p99 per tool. Cold = the cache is
invalidated before every call (the answer is computed from PostgreSQL); warm = the same calls again.
Goals: lookup_customer p95 <= 5 ms warm and <= 25 ms cold; every other tool p95 <= 150 ms.
analyze_products is also timed per kind of question (all history, periods, segments, bought-with);
`--tools analyze_products` times that tool alone.
"""
from __future__ import annotations

import argparse
import logging
import random
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.cache import Cache  # noqa: E402
from analytics.context import build_context  # noqa: E402
from analytics.pseudonyms import assign_public_ids  # noqa: E402
from analytics.tools.registry import run_tool, tools  # noqa: E402
from settings import load_settings  # noqa: E402
from sql.database import Database  # noqa: E402

ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
GOALS_MS = {"lookup_customer": (25.0, 5.0)}   # (cold, warm) p95; others 150 ms both
DEFAULT_GOAL_MS = 150.0


def ensure_database(name: str) -> str:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def prepare_store(db: Database, settings, customers: int) -> None:
    from discovery.demo import load_synthetic_store
    from discovery.pipeline import run_discovery

    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM customers")
        have = cur.fetchone()["n"]
    if have == 0:
        print(load_synthetic_store(db, settings, customers=customers), flush=True)
    assign_public_ids(db, settings)
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM discovery_runs WHERE status = 'published'")
        runs = cur.fetchone()["n"]
        cur.execute("SELECT max(ordered_at) AS latest FROM orders")
        latest = cur.fetchone()["latest"]
    if runs == 0:
        started = time.perf_counter()
        earlier = run_discovery(db, settings, as_of=(latest - timedelta(days=28)).date().isoformat())
        print(f"earlier discovery run: {earlier.status} in {time.perf_counter() - started:.0f} s", flush=True)
        runs = 1
    if runs == 1:
        started = time.perf_counter()
        current = run_discovery(db, settings)
        print(f"current discovery run: {current.status} in {time.perf_counter() - started:.0f} s", flush=True)
    # The write side, as after an import and a discovery run (analyze_products only reads the rollup).
    from analytics.product_rollup import refresh_product_rollup

    started = time.perf_counter()
    if refresh_product_rollup(db):
        print(f"product rollup folded in {time.perf_counter() - started:.0f} s", flush=True)


def call_plan(db: Database, rng: random.Random, n: int) -> dict[str, list[dict]]:
    """Representative arguments per tool, drawn from the current run."""
    with db.cursor() as cur:
        cur.execute("SELECT c.public_id, c.store_customer_id FROM customer_profiles p JOIN customers c USING "
                    "(customer_id) WHERE p.run_id = (SELECT run_id FROM discovery_runs WHERE is_current)")
        customers = cur.fetchall()
        cur.execute("SELECT axis || ':' || name AS seg FROM segments WHERE members > 0 AND run_id = "
                    "(SELECT run_id FROM discovery_runs WHERE is_current)")
        segments = [r["seg"] for r in cur.fetchall()]
        cur.execute("SELECT archetype_id FROM archetypes WHERE run_id = (SELECT run_id FROM discovery_runs "
                    "WHERE is_current) ORDER BY members DESC")
        archetypes = [r["archetype_id"] for r in cur.fetchall()]
    picks = rng.sample(customers, min(n, len(customers)))
    cycle = lambda items, k: [items[i % len(items)] for i in range(k)]  # noqa: E731
    sorts = ["churn_risk", "value", "predicted_value", "recency", "frequency"]
    campaigns = ["retention", "win_back", "upsell", "vip", "seasonal"]
    focuses = ["segment_moves", "declining", "one_time_buyers", "discount_dependency"]
    plan = {
        "lookup_customer": [{"customer": c["public_id"] if i % 2 else c["store_customer_id"]} for i, c in enumerate(picks)],
        "analyze_customers": [{"sort_by": s, **({"segment": g} if i % 2 else {})}
                              for i, (s, g) in enumerate(zip(cycle(sorts, n), cycle(segments, n)))],
        "analyze_segments": ([{"mode": "overview"}] + [{"mode": "detail", "segment": g} for g in segments]
                             + [{"mode": "changes", "days_ago": 28}]
                             + [{"mode": "compare", "segment": a, "other_segment": b}
                                for a, b in zip(segments, segments[1:])])[:n],
        "segment_info": ([{}] + [{"name": a} for a in archetypes] + [{"name": g} for g in segments])[:n],
        "target_campaign": [{"campaign": c, "limit": 100} for c in cycle(campaigns, n)],
        "analyze_behavior": [{"focus": f, "days_ago": 28} for f in cycle(focuses, n)],
        "get_recommendations": ([{}] + [{"customer": c["public_id"]} for c in picks[: n // 2]]
                                + [{"segment": g} for g in segments] + [{"archetype": a} for a in archetypes])[:n],
    }
    for name in ("analyze_products", "forecast_metrics"):   # built by another engineer; timed if present
        if name in tools():
            plan[name] = [{}] * min(n, 10)
    return plan


def product_questions(db: Database) -> dict[str, list[dict]]:
    """analyze_products by kind of question, with arguments drawn from the store and the current run."""
    with db.cursor() as cur:
        cur.execute("SELECT axis || ':' || name AS seg FROM segments WHERE members > 0 AND run_id = "
                    "(SELECT run_id FROM discovery_runs WHERE is_current) ORDER BY members DESC")
        segments = [r["seg"] for r in cur.fetchall()]
        cur.execute("SELECT archetype_id FROM archetypes WHERE run_id = (SELECT run_id FROM discovery_runs "
                    "WHERE is_current) ORDER BY members DESC LIMIT 3")
        archetypes = [r["archetype_id"] for r in cur.fetchall()]
        cur.execute("SELECT p.sku, coalesce(p.category, 'uncategorized') AS category FROM order_lines l "
                    "JOIN products p USING (product_id) GROUP BY 1, 2 ORDER BY count(*) DESC LIMIT 3")
        top = cur.fetchall()
    return {
        "all history": [{}, {"group_by": "product"}, {"group_by": "product", "sort_by": "repeat_rate"},
                        {"category": top[0]["category"], "group_by": "product"}],
        "one quarter/month": [{"period": "last_quarter"}, {"period": "Q4", "group_by": "product"},
                              {"period": "last_90_days"}, {"period": "last_month", "group_by": "product"}],
        "one year": [{"period": "this_year"}, {"period": "last_year", "group_by": "product"}],
        "segment/archetype": [{"segment": segments[0]}, {"segment": segments[len(segments) // 2], "group_by": "product"},
                              {"archetype": archetypes[0]}, {"segment": segments[-1], "group_by": "product"}],
        "segment + quarter": [{"segment": segments[0], "period": "last_quarter"},
                              {"archetype": archetypes[0], "period": "Q4", "group_by": "product"}],
        "bought with": [{"bought_with": top[0]["category"]}, {"bought_with": top[0]["sku"], "group_by": "product"},
                        {"bought_with": top[1]["sku"], "segment": segments[1], "group_by": "product"}],
        "bought with + quarter": [{"bought_with": top[0]["sku"], "period": "last_quarter", "group_by": "product"}],
    }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(ctx, name: str, calls: list[dict], cold: bool) -> list[float]:
    timings = []
    for args in calls:
        if cold:
            ctx.cache.invalidate_all()
        started = time.perf_counter()
        run_tool(ctx, name, args)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=27_000)
    parser.add_argument("--repeat", type=int, default=40, help="calls per tool and mode")
    parser.add_argument("--cache", choices=["redis", "memory"], default="redis")
    parser.add_argument("--database", default="cib_bench_tools")
    parser.add_argument("--prepare-only", action="store_true")
    parser.add_argument("--tools", help="comma-separated tool names to time (default: all)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    url = ensure_database(args.database)
    settings = load_settings(database_url=url, redis_url="redis://127.0.0.1:6379/0" if args.cache == "redis" else None,
                             redis_key_prefix=f"cibbench:{uuid.uuid4().hex[:8]}:", pseudonym_secret="bench-secret",
                             data_dir=Path("/tmp/cib_bench_tools"), _env_file=None)
    db = Database(url)
    try:
        prepare_store(db, settings, args.customers)
        if args.prepare_only:
            return 0
        ctx = build_context(settings, db, Cache.from_settings(settings))
        with db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM customer_profiles WHERE run_id = "
                        "(SELECT run_id FROM discovery_runs WHERE is_current)")
            profiled = cur.fetchone()["n"]
        print(f"store: {profiled:,} customers in the current run; cache: {ctx.cache.backend}; "
              f"{args.repeat} calls per tool and mode\n")
        plan = call_plan(db, random.Random(7), args.repeat)
        if args.tools:
            plan = {name: calls for name, calls in plan.items() if name in args.tools.split(",")}
        header = f"{'tool':22} {'mode':5} {'calls':>5} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'goal p95':>9}  ok"
        print(header)
        print("-" * len(header))
        failures = 0
        for name, calls in plan.items():
            try:
                run_tool(ctx, name, calls[0])   # first-use imports and connection warm-up, not measured
            except Exception as exc:  # noqa: BLE001 - a tool still being built must not stop the table
                print(f"{name:22} error: {type(exc).__name__}: {exc}"[:160], flush=True)
                failures += 1
                continue
            cold = measure(ctx, name, calls, cold=True)
            measure(ctx, name, calls, cold=False)   # fill
            warm = measure(ctx, name, calls, cold=False)
            for mode, timings, goal in (("cold", cold, GOALS_MS.get(name, (DEFAULT_GOAL_MS,) * 2)[0]),
                                        ("warm", warm, GOALS_MS.get(name, (DEFAULT_GOAL_MS,) * 2)[1])):
                p95 = percentile(timings, 0.95)
                ok = p95 <= goal
                failures += not ok
                print(f"{name:22} {mode:5} {len(timings):5d} {statistics.median(timings):8.1f} {p95:8.1f} "
                      f"{percentile(timings, 0.99):8.1f} {goal:9.0f}  {'yes' if ok else 'NO'}", flush=True)
        if "analyze_products" in plan:
            print(f"\nanalyze_products by kind of question (each call {max(3, args.repeat // 10)} times; cold = "
                  "cache emptied, the product rollup kept as it is after the data changed):")
            print(f"{'question':24} {'calls':>5} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
            for kind, questions in product_questions(db).items():
                calls = [q for q in questions for _ in range(max(3, args.repeat // 10))]
                cold = measure(ctx, "analyze_products", calls, cold=True)
                print(f"{kind:24} {len(cold):5d} {statistics.median(cold):8.1f} {percentile(cold, 0.95):8.1f} "
                      f"{max(cold):8.1f}", flush=True)
        print("\ntarget_campaign: the selection is cached; the CSV export is written fresh on every call (warm too).")
        ctx.cache.invalidate_all()
        ctx.cache.close()
        return 1 if failures else 0
    finally:
        db.close()


if __name__ == "__main__":
    sys.exit(main())
