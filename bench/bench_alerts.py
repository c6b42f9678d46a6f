"""What the hourly alert check costs on the synthetic store: each detector of analytics/alerts.py, and
the whole check (find + record once per key) as `serve` runs it every hour on every instance.

    python bench/bench_alerts.py [--customers 27000] [--repeat 5]

Builds the store once in its own database (bench_tools.prepare_store: generate + import + two
discovery runs 28 days apart, so there is a previous run to compare with), then prints the median and
the worst of --repeat timings per step, with the alerts each finds. Timings on a shared machine are
noisy: the load average is printed.
"""
from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics import alerts  # noqa: E402
from analytics.core import ToolContext  # noqa: E402
from bench_tools import ensure_database, prepare_store  # noqa: E402
from bot.alerts import record_alerts  # noqa: E402
from settings import load_settings  # noqa: E402
from sql import query  # noqa: E402
from sql.database import Database  # noqa: E402


def timed(fn, repeat: int) -> tuple[list[float], object]:
    seconds, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def find_and_record(ctx: ToolContext, now: datetime) -> list:
    found = alerts.find_alerts(ctx, now)
    record_alerts(ctx, found, now)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=27_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database", default=None, help="default cib_bench_alerts_<customers>")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    url = ensure_database(args.database or f"cib_bench_alerts_{args.customers}")
    settings = load_settings(database_url=url, redis_url=None, pseudonym_secret="bench-secret",
                             data_dir=Path("/tmp/cib_bench_alerts"), _env_file=None)
    db = Database(url)
    try:
        prepare_store(db, settings, args.customers)
        ctx = ToolContext(db=db, settings=settings)
        now = datetime.now(timezone.utc)
        with db.cursor() as cur:
            cur.execute(query("alerts.health"))
            health = dict(cur.fetchone())
        latest = health["latest_order_at"]
        steps = {
            "customers turning at risk": lambda: alerts.customers_turning_at_risk(ctx),
            "revenue against the forecast": lambda: alerts.revenue_outside_forecast(ctx, latest),
            "return spikes": lambda: alerts.return_spikes(ctx, latest),
            "discovery and freshness": lambda: alerts.discovery_and_freshness(ctx, health, now),
            "whole check (find + record)": lambda: find_and_record(ctx, now),
        }
        print(f"store: {args.customers:,} customers; {args.repeat} timings per step; "
              f"load average {os.getloadavg()[0]:.1f}\n")
        header = f"{'step':30} {'median s':>9} {'worst s':>9} {'alerts':>7}"
        print(header)
        print("-" * len(header))
        for name, step in steps.items():
            seconds, found = timed(step, args.repeat)
            count = len(found) if isinstance(found, list) else 0
            print(f"{name:30} {statistics.median(seconds):9.3f} {max(seconds):9.3f} {count:7d}", flush=True)
        print("\n(whole check: the alerts it finds are recorded on its first timing; later timings find the same "
              "keys and record none)")
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
