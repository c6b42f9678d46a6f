"""The zero-config demo's first run step by step, its second start, and the product fold alone.

    python bench/bench_demo.py [--customers 27000] [--server] [--fold-runs 3]

First run: `python app.py demo --no-chat` on a fresh DATA_DIR (embedded PostgreSQL; with --server a
scratch database on TEST_ADMIN_DATABASE_URL's server instead, dropped at the end), timed from the
outside: each step's seconds as its progress line reports them (generate, import, and the product
fold alongside discovery), "ready" when the report is printed (the chat would open there), and the
end of the process, after the stored answers for the standard periods and per segment that follow
in the background. Second start: the same command again on the same data. Then, on that store, the
fold alone from nothing (analytics.product_rollup.fold_orders after forgetting the rollup), and the
three later steps alone (derive_from_orders, store_period_answers, refresh_segment_facts), --fold-runs
times each.
Timings on a shared machine are noisy: the load average is printed at each step.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from pathlib import Path

import psycopg

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from analytics.product_rollup import (derive_from_orders, fold_orders, refresh_segment_facts,  # noqa: E402
                                      store_period_answers)
from sql.database import Database  # noqa: E402

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
STEP_LINE = re.compile(r"^(?P<label>[^…\r]+)… (?P<what>.*) in (?P<seconds>\d+\.\d) s$")
STEPS = (("generate", "Generating store"), ("import", "Loading orders"), ("fold", "Product statistics"),
         ("discovery", "Discovery"), ("later", "Product answers for all history, periods and segments"))


def load() -> str:
    return f"{os.getloadavg()[0]:.1f}"


def run_demo(data_dir: Path, customers: int, database_url: str | None) -> dict:
    """Run the demo once; returns its step lines, the seconds to the report ('ready') and to the end."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN")}
    env.update(DATA_DIR=str(data_dir), LOG_LEVEL="WARNING", PYTHONPATH=str(REPO))
    if database_url:
        env["DATABASE_URL"] = database_url
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, str(REPO / "app.py"), "demo", "--no-chat", "--customers",
                                str(customers)], cwd=data_dir.parent, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    seen: dict = {"steps": {}, "ready": None, "stdout": [], "stderr": []}

    def read(stream, name: str) -> None:
        for line in stream:
            seen[name].append(line)
            if name == "stdout" and seen["ready"] is None and line.startswith("Store:"):
                seen["ready"] = time.perf_counter() - started
            match = STEP_LINE.match(line.strip()) if name == "stderr" else None
            if match:
                seen["steps"][match["label"]] = (float(match["seconds"]), match["what"], load())

    readers = [threading.Thread(target=read, args=(process.stdout, "stdout")),
               threading.Thread(target=read, args=(process.stderr, "stderr"))]
    for reader in readers:
        reader.start()
    process.wait(timeout=1800)
    for reader in readers:
        reader.join()
    seen["total"] = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"the demo failed ({process.returncode}):\n{''.join(seen['stdout'] + seen['stderr'])}")
    return seen


def embedded_url(data_dir: Path) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        return pgserver.get_server(data_dir / "postgres", cleanup_mode=None).get_uri()


def stop_embedded(data_dir: Path) -> None:
    if (data_dir / "postgres" / "postmaster.pid").exists():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import pgserver

            pgserver.get_server(data_dir / "postgres", cleanup_mode="stop").cleanup()


def time_alone(db: Database, runs: int) -> list[tuple[str, float, str]]:
    """The fold from nothing (the order grains: what the chat waits for), then what the demo does in the
    background (the derived tables, the periods' answers, the sums per segment), each `runs` times."""
    rows = []
    for _ in range(runs):
        with db.connection() as conn:  # forget it all: the next fold is a build from nothing
            conn.execute("DELETE FROM product_rollup_state")
            conn.execute("DELETE FROM product_segment_state")
        for label, step in (("fold from nothing", fold_orders), ("derived tables", derive_from_orders),
                            ("periods' answers", store_period_answers), ("sums per segment", refresh_segment_facts)):
            started = time.perf_counter()
            changed = step(db)
            assert changed, f"{label} did nothing"
            rows.append((label, time.perf_counter() - started, load()))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=27000, help="size of the synthetic store (default 27000)")
    parser.add_argument("--server", action="store_true",
                        help="a scratch database on TEST_ADMIN_DATABASE_URL's server instead of embedded PostgreSQL")
    parser.add_argument("--fold-runs", type=int, default=3, help="times the fold alone is timed (default 3)")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="cib-bench-demo-"))
    data_dir = home / "data"
    scratch = None
    if args.server:
        scratch = f"cib_bench_demo_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {scratch}")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + scratch if scratch else None
    print(f"demo benchmark: {args.customers:,} customers, "
          f"{'scratch database on ' + ADMIN_URL.rsplit('/', 1)[0] if scratch else 'embedded PostgreSQL'}, "
          f"{os.cpu_count()} CPU(s), load average {load()} at start\n", flush=True)
    try:
        first = run_demo(data_dir, args.customers, url)
        second = run_demo(data_dir, args.customers, url)

        print(f"{'first run (fresh DATA_DIR)':42} {'seconds':>8} {'load':>5}  what")
        for _, label in STEPS:
            seconds, what, at = first["steps"].get(label, (float("nan"), "(no line)", "-"))
            print(f"  {label:40} {seconds:8.1f} {at:>5}  {what}")
        print(f"  {'ready (report printed, chat would open)':40} {first['ready'] or float('nan'):8.1f}")
        print(f"  {'total, background answers included':40} {first['total']:8.1f} {load():>5}")
        print(f"{'second start (same DATA_DIR)':42} {second['total']:8.1f} {load():>5}")
        print("  (fold and discovery run side by side: ready ≈ generate + import + the longer of the two + "
              "start-up)\n", flush=True)

        db = Database(url or embedded_url(data_dir), migrate=False)
        try:
            with db.cursor() as cur:
                cur.execute("SELECT count(*) AS n FROM order_lines")
                lines = cur.fetchone()["n"]
            print(f"alone on the same store ({lines:,} order lines), {args.fold_runs} run(s):")
            print(f"  {'step':40} {'seconds':>8} {'load':>5}")
            for label, seconds, at in time_alone(db, args.fold_runs):
                print(f"  {label:40} {seconds:8.1f} {at:>5}", flush=True)
        finally:
            db.close()
    finally:
        if scratch:
            with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {scratch} WITH (FORCE)")
        else:
            stop_embedded(data_dir)
        shutil.rmtree(home, ignore_errors=True)
    print(f"\nload average {load()} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
