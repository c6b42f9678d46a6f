"""Import benchmark: the synthetic store (from memory and from its canonical CSV.gz), a re-import, and
the Online Retail II year, each into a fresh PostgreSQL database; prints rows, seconds, rows/s and
peak memory.

    python bench/bench_import.py [--customers N] [--seed S] [--skip-uci]

Needs PostgreSQL at TEST_ADMIN_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres);
the databases it creates are dropped at the end.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.importer import import_file, import_frame  # noqa: E402
from sql.database import Database  # noqa: E402

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
UCI = Path(__file__).resolve().parents[2] / "shared" / "data" / "online_retail_ii" / "online_retail_II_2009_2010.csv.gz"


class PeakRss:
    """Samples this process's resident memory every 20 ms while the block runs."""

    def __enter__(self) -> "PeakRss":
        self.process = psutil.Process()
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)


class FreshDatabase:
    """A new migrated database, dropped on exit."""

    def __enter__(self) -> Database:
        self.name = f"cib_bench_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {self.name}")
        self.db = Database(ADMIN_URL.rsplit("/", 1)[0] + "/" + self.name, max_size=2)
        self.db.name = self.name
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)")


def _server_cpu(database: str) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to `database` (same machine)."""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        pids = [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database,))]
    used = {}
    for pid in pids:
        try:
            times = psutil.Process(pid).cpu_times()
            used[pid] = times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return used


def measure(label: str, database: str, run) -> dict:
    """Wall time, plus CPU time of this process and of the database backends: on a machine shared
    with other work the CPU figure is what the import would take on an idle machine (roughly)."""
    server_before = _server_cpu(database)
    client_before = sum(psutil.Process().cpu_times()[:2])
    with PeakRss() as rss:
        started = time.perf_counter()
        summary = run()
        seconds = time.perf_counter() - started
    client = sum(psutil.Process().cpu_times()[:2]) - client_before
    server = sum(cpu - server_before.get(pid, 0.0) for pid, cpu in _server_cpu(database).items())
    return {"dataset": label, "rows": summary.rows_read, "new_orders": summary.new_orders,
            "seconds": seconds, "rows_per_s": summary.rows_read / seconds, "peak_rss_mb": rss.peak / 2**20,
            "client_cpu": client, "server_cpu": server}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=27_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-uci", action="store_true", help="leave out the Online Retail II year")
    args = parser.parse_args()

    from discovery.synthetic import StoreSpec, generate_store, write_store

    spec = StoreSpec(customers=args.customers, seed=args.seed)
    started = time.perf_counter()
    frame, _truth = generate_store(spec)
    print(f"generated {len(frame):,} synthetic lines in {time.perf_counter() - started:.1f} s (not timed below)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_import_") as folder:
        csv_path = Path(folder) / "synthetic.csv.gz"
        write_store(spec, csv_path)
        with FreshDatabase() as db:
            results.append(measure("synthetic, in-memory frame", db.name, lambda: import_frame(db, frame, "synthetic")))
            results.append(measure("synthetic, re-import (no-op)", db.name, lambda: import_frame(db, frame, "synthetic")))
        with FreshDatabase() as db:
            results.append(measure("synthetic, canonical csv.gz", db.name, lambda: import_file(db, csv_path)))
    if not args.skip_uci:
        if UCI.exists():
            with FreshDatabase() as db:
                results.append(measure("Online Retail II 2009-10 csv.gz", db.name, lambda: import_file(db, UCI)))
        else:
            print(f"(skipped Online Retail II: {UCI} not found)")

    print(f"\n{'dataset':34} {'rows':>10} {'new orders':>11} {'seconds':>8} {'rows/s':>10} {'peak RSS MB':>12}"
          f" {'CPU s: python':>14} {'+ postgres':>10}")
    for r in results:
        print(f"{r['dataset']:34} {r['rows']:>10,} {r['new_orders']:>11,} {r['seconds']:>8.1f} "
              f"{r['rows_per_s']:>10,.0f} {r['peak_rss_mb']:>12,.0f} {r['client_cpu']:>14.1f} {r['server_cpu']:>10.1f}")
    print(f"\n{os.cpu_count()} CPU(s); load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} "
          "(other work on the machine slows these figures)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
