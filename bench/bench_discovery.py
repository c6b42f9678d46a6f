"""Discovery wall time and peak memory by stage (features, clustering, churn, publish).

    python bench/bench_discovery.py                 # 27k synthetic, Online Retail II, 270k synthetic
    python bench/bench_discovery.py --only 27k      # one scenario: 27k | retail | 270k

Each scenario gets its own throw-away database on DATABASE_URL's server (default the local test
server). 27k and Online Retail II go through the importer and the full pipeline. For 270k
customers (≈12 M lines) importing would dominate the run, so its features are built directly
from the generated frames with pandas (same definitions as the SQL path; only customer ids are
loaded into the database, so the publish stage is real). Import times are printed separately
and are not part of discovery. Peak memory is the process's peak RSS at the end of each stage
(it only grows, so a stage's own need shows as the step up from the previous stage).
"""
from __future__ import annotations

import argparse
import io
import os
import resource
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.features import build_features  # noqa: E402
from discovery.importer import import_file, import_frame  # noqa: E402
from discovery.pipeline import STAGES, run_discovery  # noqa: E402
from discovery.synthetic import StoreSpec, generate_store  # noqa: E402
from settings import load_settings  # noqa: E402
from sql.database import Database  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def fresh_database() -> str:
    name = f"cib_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def drop_database(url: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]} WITH (FORCE)")


def frames_to_features(lines: pd.DataFrame, customer_ids: dict[str, int]):
    """Order facts and basket stats straight from canonical lines (whole-array pandas)."""
    lines = lines[lines["customer_id"].notna()].copy()
    lines["cid"] = lines["customer_id"].map(customer_ids).astype(np.int64)
    lines["amount"] = lines["quantity"] * lines["unit_price"]
    lines["discount"] = lines["line_discount"].fillna(0.0)
    lines["coded"] = lines["discount_code"].fillna("").astype(str) != ""
    g = lines.groupby("order_id", sort=False)
    orders = pd.DataFrame({
        "customer_id": g["cid"].first(),
        "ordered_at": pd.to_datetime(g["ordered_at"].first(), utc=True),
        "kind": np.where(g["quantity"].max() < 0, "return", "sale"),
        "subtotal": g["amount"].sum(),
        "discount_total": g["discount"].sum(),
        "discounted": g["coded"].any() | (g["discount"].sum() > 0),
    }).reset_index(drop=True)
    orders["total"] = orders["subtotal"] - orders["discount_total"]
    sales = lines[lines["quantity"] > 0]
    pair = sales.groupby(["cid", "sku"], sort=False).agg(times=("quantity", "size"), items=("quantity", "sum"),
                                                        category=("category", "first")).reset_index()
    per = pair.groupby("cid")
    basket = pd.DataFrame({"items": per["items"].sum(), "products": per.size(), "lines": per["times"].sum(),
                           "repeat_lines": (pair["times"] - 1).groupby(pair["cid"]).sum(),
                           "repeat_products": (pair["times"] > 1).groupby(pair["cid"]).sum()}).astype(float)
    cat = pair.groupby(["cid", "category"])["times"].sum().reset_index()
    cat["share"] = cat["times"] / cat.groupby("cid")["times"].transform("sum")
    cat["plogp"] = cat["share"] * np.log(cat["share"])
    c = cat.groupby("cid")
    basket["categories"] = c.size()
    basket["top_category_share"] = c["share"].max()
    basket["category_entropy"] = (-c["plogp"].sum()).clip(lower=0)
    basket["repeat_line_share"] = basket["repeat_lines"] / basket["lines"]
    basket["repeat_product_share"] = basket["repeat_products"] / basket["products"]
    basket.index.name = "customer_id"
    return orders, basket


def report(label: str, summary, extra: str = "") -> None:
    print(f"\n{label}: {summary.status}, {summary.customers:,} customers, {summary.archetypes} archetypes, "
          f"{summary.seconds:.1f} s end to end{extra}")
    if summary.error:
        print(f"  error: {summary.error}")
    print(f"  {'stage':<12}{'wall s':>10}{'client CPU s':>14}{'peak RSS MB':>14}")
    for stage in STAGES:
        print(f"  {stage:<12}{summary.stage_seconds.get(stage, float('nan')):>10.2f}"
              f"{summary.stage_cpu_seconds.get(stage, float('nan')):>14.2f}"
              f"{summary.stage_peak_mb.get(stage, float('nan')):>14.0f}")
    metrics = summary.metrics
    if metrics.get("backtest", {}).get("possible"):
        b = metrics["backtest"]
        print(f"  churn model {metrics['churn_model']}: backtest AUC BG/NBD {b['auc_btyd']:.3f}, "
              f"supervised {b['auc_supervised']:.3f}")


def bench_synthetic_import(customers: int) -> None:
    url = fresh_database()
    try:
        db = Database(url)
        started = time.perf_counter()
        lines, _ = generate_store(StoreSpec(customers=customers, seed=7))
        generated = time.perf_counter() - started
        started = time.perf_counter()
        import_frame(db, lines, "synthetic")
        imported = time.perf_counter() - started
        settings = load_settings(database_url=url, redis_url=None, _env_file=None)
        summary = run_discovery(db, settings)
        report(f"synthetic {customers:,} customers / {len(lines):,} lines", summary,
               f" (generate {generated:.1f} s, import {imported:.1f} s, not counted)")
        db.close()
    finally:
        drop_database(url)


def bench_retail() -> None:
    path = SHARED / "online_retail_ii" / "online_retail_II_2009_2010.parquet"
    url = fresh_database()
    try:
        db = Database(url)
        started = time.perf_counter()
        summary_import = import_file(db, path)
        imported = time.perf_counter() - started
        settings = load_settings(database_url=url, redis_url=None, _env_file=None)
        summary = run_discovery(db, settings)
        report(f"Online Retail II 2009-2010 ({summary_import.rows_loaded:,} lines)", summary,
               f" (import {imported:.1f} s, not counted)")
        db.close()
    finally:
        drop_database(url)


def bench_synthetic_frames(customers: int) -> None:
    url = fresh_database()
    try:
        db = Database(url)
        started = time.perf_counter()
        lines, _ = generate_store(StoreSpec(customers=customers, seed=7))
        generated = time.perf_counter() - started
        # Only the customers go into the database (profiles reference them); orders stay in memory.
        ids = pd.Series(lines["customer_id"].dropna().unique())
        with db.connection() as conn, conn.cursor() as cur:
            with cur.copy("COPY customers (store_customer_id) FROM STDIN") as copy:
                copy.write("\n".join(ids.astype(str)) + "\n")
            cur.execute("SELECT store_customer_id, customer_id FROM customers")
            mapping = dict(cur.fetchall())
        as_of = pd.Timestamp(lines["ordered_at"].max()).tz_localize("UTC")

        def load(as_of_ts):
            orders, basket = frames_to_features(lines, mapping)
            return build_features(orders, as_of_ts, basket), orders

        settings = load_settings(database_url=url, redis_url=None, _env_file=None)
        summary = run_discovery(db, settings, as_of=as_of.to_pydatetime(), _load_features=load)
        report(f"synthetic {customers:,} customers / {len(lines):,} lines (features from frames)", summary,
               f" (generate {generated:.1f} s, not counted)")
        db.close()
    finally:
        drop_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["27k", "retail", "270k"])
    args = parser.parse_args()
    print(f"discovery benchmark on {os.cpu_count()} CPU(s); load average {os.getloadavg()[0]:.1f} at start")
    if args.only in (None, "27k"):
        bench_synthetic_import(27_000)
    if args.only in (None, "retail"):
        bench_retail()
    if args.only in (None, "270k"):
        bench_synthetic_frames(270_000)
    print(f"\nload average {os.getloadavg()[0]:.1f} at the end; "
          f"process peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
