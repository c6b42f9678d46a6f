"""Benchmark: how fast the synthetic store generates (in memory, as CSV, as CSV.gz).

    python bench/bench_generate.py [--customers 27000] [--seed 7]

Each case runs in its own process so its peak memory is its own. Prints a table; not a test.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASES = ("frame", "csv", "csv.gz")


def run_case(case: str, customers: int, seed: int) -> dict:
    sys.path.insert(0, str(ROOT))
    from discovery.synthetic import StoreSpec, generate_store, write_store

    spec = StoreSpec(customers=customers, seed=seed)
    with tempfile.TemporaryDirectory(prefix="bench-generate-") as folder:
        started = time.perf_counter()
        if case == "frame":
            orders, _truth = generate_store(spec)
            seconds, lines, size = time.perf_counter() - started, len(orders), 0
        else:
            out = Path(folder) / f"store.{case}"
            write_store(spec, out)
            seconds, size = time.perf_counter() - started, out.stat().st_size
            import pandas as pd  # counting the lines is not part of the timing

            lines = len(pd.read_csv(out, usecols=["order_id"]))
    return {"case": case, "customers": customers, "lines": lines, "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "file_mb": size / 1e6}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=27_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--one", choices=CASES, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_case(args.one, args.customers, args.seed)))
        return 0
    rows = []
    for case in CASES:
        child = subprocess.run([sys.executable, __file__, "--one", case, "--customers", str(args.customers),
                                "--seed", str(args.seed)], capture_output=True, text=True, check=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
    print(f"{'output':<8} {'customers':>10} {'lines':>11} {'seconds':>8} {'lines/s':>11} {'peak MB':>8} {'file MB':>8}")
    for row in rows:
        print(f"{row['case']:<8} {row['customers']:>10,} {row['lines']:>11,} {row['seconds']:>8.2f} "
              f"{row['lines'] / row['seconds']:>11,.0f} {row['peak_mb']:>8,.0f} "
              f"{(row['file_mb'] or 0):>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
