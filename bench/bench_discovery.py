"""Discovery wall time and peak memory by stage (features, clustering, churn, publish).

    python bench/bench_discovery.py                 # 27k synthetic, Online Retail II, 270k synthetic
    python bench/bench_discovery.py --only 27k      # one scenario: 27k | retail | 270k

Each scenario gets its own throw-away database on DATABASE_URL's server (default the local test
server). 27k and Online Retail II go through the importer and the full pipeline. For 270k
customers (≈12 M lines) importing would dominate the run, so its features are built directly
from the generated frames with NumPy (same definitions as the SQL path; only customer ids are
loaded into the database, so the publish stage is real). Import times are printed separately
and are not part of discovery. Peak memory is the process's peak RSS at the end of each stage
(it only grows, so a stage's own need shows as the step up from the previous stage).
"""
from __future__ import annotations

import argparse
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
    """Order facts and basket stats straight from canonical lines, on integer codes with NumPy
    (the same definitions as the SQL path). Lines of one order are consecutive in the frame."""
    known = lines["customer_id"].notna().to_numpy()
    order_code, _ = pd.factorize(lines["order_id"].to_numpy()[known])
    sku_code, skus = pd.factorize(lines["sku"].to_numpy()[known])
    customer = lines["customer_id"][known].map(customer_ids).to_numpy(dtype=np.int64)
    quantity = lines["quantity"].to_numpy()[known]
    amount = quantity * lines["unit_price"].to_numpy()[known]
    discount = np.nan_to_num(lines["line_discount"].to_numpy(dtype=float)[known])
    coded = lines["discount_code"].notna().to_numpy()[known]
    when = lines["ordered_at"].to_numpy()[known]
    first = np.flatnonzero(np.r_[True, order_code[1:] != order_code[:-1]])
    n_orders = len(first)
    subtotal = np.bincount(order_code, weights=amount, minlength=n_orders)
    discount_total = np.bincount(order_code, weights=discount, minlength=n_orders)
    positive_lines = np.bincount(order_code, weights=(quantity > 0), minlength=n_orders)
    orders = pd.DataFrame({
        "customer_id": customer[first],
        "ordered_at": pd.to_datetime(when[first]).tz_localize("UTC"),
        "kind": np.where(positive_lines == 0, "return", "sale"),
        "subtotal": subtotal, "discount_total": discount_total, "total": subtotal - discount_total,
        "discounted": (np.bincount(order_code, weights=coded, minlength=n_orders) > 0) | (discount_total > 0),
    })
    sale = quantity > 0
    customer_code, customers = pd.factorize(customer[sale], sort=True)
    n_customers, n_skus = len(customers), len(skus)
    keys, inverse, times = np.unique(customer_code.astype(np.int64) * n_skus + sku_code[sale],
                                     return_inverse=True, return_counts=True)
    pair_items = np.bincount(inverse.reshape(-1), weights=quantity[sale])
    pair_customer = keys // n_skus
    category_code, _ = pd.factorize(pd.Series(lines["category"].to_numpy()[known]).groupby(sku_code).first()
                                    .reindex(range(n_skus)).fillna("").to_numpy())
    n_cat = int(category_code.max()) + 1
    basket = pd.DataFrame({
        "items": np.bincount(pair_customer, weights=pair_items, minlength=n_customers),
        "products": np.bincount(pair_customer, minlength=n_customers).astype(float),
        "lines": np.bincount(pair_customer, weights=times, minlength=n_customers),
        "repeat_lines": np.bincount(pair_customer, weights=times - 1, minlength=n_customers),
        "repeat_products": np.bincount(pair_customer, weights=times > 1, minlength=n_customers),
    }, index=pd.Index(customers, name="customer_id"))
    cat_keys, cat_inverse = np.unique(pair_customer * n_cat + category_code[keys % n_skus], return_inverse=True)
    cat_lines = np.bincount(cat_inverse.reshape(-1), weights=times)
    cat_customer = cat_keys // n_cat
    share = cat_lines / basket["lines"].to_numpy()[cat_customer]
    basket["categories"] = np.bincount(cat_customer, minlength=n_customers).astype(float)
    basket["category_entropy"] = np.maximum(-np.bincount(cat_customer, weights=share * np.log(share),
                                                         minlength=n_customers), 0.0)
    top = np.zeros(n_customers)
    np.maximum.at(top, cat_customer, share)
    basket["top_category_share"] = top
    basket["repeat_line_share"] = basket["repeat_lines"] / basket["lines"]
    basket["repeat_product_share"] = basket["repeat_products"] / basket["products"]
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
