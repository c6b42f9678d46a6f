"""How far to trust the models, on real and synthetic data: at several cut-off dates, the product's
churn_probability (as a discovery run at that date computes it) against what happened in the 90
days after, beside purchase frequency alone and BG/NBD alone; and the revenue forecast's candidates
against the 13 weeks that followed.

    python bench/bench_models.py                     # Online Retail II and the synthetic store
    python bench/bench_models.py --only retail       # retail | synthetic | cdnow
    python bench/bench_models.py --forecast-only     # skip the churn table (no database needed)

Labels are built here from the source rows (the parquet file, the generator's frame), not from the
database the models read: churned = no sale order in (cut, cut + 90 days]. Printed per cut: AUC of
the product's score, of frequency alone (more orders = less churn) and of BG/NBD's P(no purchase);
the Brier score and expected calibration error (10 bins) of the product's probability; and for
expected purchases in the 90 days, their correlation with the actual count and the error on the total.
Forecast table: weekly MAPE over the 13 weeks after each cut of every candidate, the one the
product's backtest chose, and the error on the 13 weeks' total; then each candidate's 80 % interval
coverage (share of those weeks inside its interval) there. CDNOW (18 months of one cohort's CD
purchases) has only the forecast tables: its customers all arrived in the first quarter, so its
churn labels would mostly measure that cohort's ageing.
"""
from __future__ import annotations

import argparse
import os
import sys
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
from sklearn.metrics import brier_score_loss, roc_auc_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.churn import HORIZON_DAYS, WEEK, btyd_inputs, fit_purchase_model, score_customers  # noqa: E402
from discovery.features import compute_features  # noqa: E402
from discovery.importer import import_file, import_frame  # noqa: E402
from discovery.synthetic import StoreSpec, generate_store  # noqa: E402
from sql.database import Database  # noqa: E402

ADMIN_URL = os.environ.get("BENCH_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
RETAIL_CUTS = ("2010-05-01", "2010-06-15", "2010-07-15", "2010-08-01", "2010-09-10")
SYNTHETIC_CUTS = ("2024-03-31", "2024-06-30", "2024-09-30")
# Forecast cuts. Those marked * were added before the first run of the Holt-Winters candidate and
# looked at only after its last change (the others had shown its first-run figures by then).
FRESH_FORECAST_CUTS = {"2010-07-15", "2010-08-20", "2024-03-31", "2024-08-15", "1997-11-15", "1998-02-15"}
RETAIL_FORECAST_CUTS = ("2010-06-15", "2010-07-15", "2010-08-01", "2010-08-20", "2010-09-10")
SYNTHETIC_FORECAST_CUTS = ("2023-09-30", "2024-03-31", "2024-06-30", "2024-08-15", "2024-09-15", "2024-09-30")
CDNOW_FORECAST_CUTS = ("1997-09-30", "1997-11-15", "1997-12-31", "1998-02-15", "1998-03-31")


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: |observed rate − mean probability| weighted over equal-width bins."""
    edges = np.linspace(0, 1, bins + 1)
    which = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        mask = which == b
        if mask.any():
            total += mask.sum() * abs(y[mask].mean() - p[mask].mean())
    return total / len(y)


def evaluate(db: Database, sales: pd.DataFrame, cut: str, name: str) -> dict:
    """sales: one row per sale order (customer id as the store's id, ordered_at UTC)."""
    as_of = pd.Timestamp(cut + " 23:59:59", tz="UTC")
    features, orders = compute_features(db, as_of)
    scores, metrics = score_customers(features, orders)
    with db.cursor() as cur:
        cur.execute("SELECT customer_id, store_customer_id FROM customers")
        store_id = {r["customer_id"]: r["store_customer_id"] for r in cur.fetchall()}
    ids = [store_id[c] for c in features.frame.index]
    after = sales[(sales["ordered_at"] > as_of) & (sales["ordered_at"] <= as_of + pd.Timedelta(days=HORIZON_DAYS))]
    counts = after.groupby("customer")["order"].nunique()
    actual = np.array([counts.get(i, 0) for i in ids], dtype=float)
    churned = (actual == 0).astype(int)
    p = scores["churn_probability"].to_numpy()
    x, t_x, T = btyd_inputs(features.frame, as_of)
    model, _ = fit_purchase_model(x, t_x, T)
    p_btyd = model.probability_no_purchase(HORIZON_DAYS / WEEK, x, t_x, T)
    expected = scores["expected_purchases_90d"].to_numpy()
    return {"data": name, "cut": cut, "customers": len(ids), "churn_rate": churned.mean(),
            "auc_model": roc_auc_score(churned, p), "auc_frequency": roc_auc_score(churned, -features.frame["orders"]),
            "auc_bgnbd": roc_auc_score(churned, p_btyd), "brier": brier_score_loss(churned, p),
            "ece": calibration_error(churned, p), "purchases_corr": np.corrcoef(expected, actual)[0, 1],
            "purchases_total_error": expected.sum() / max(actual.sum(), 1) - 1,
            "model": metrics.get("churn_model")}


def forecast_rows(daily: pd.Series, cut: str, name: str) -> dict:
    """Revenue: every candidate fitted on the days up to `cut`, scored on the 13 weeks after it (weekly
    MAPE, and the share of weeks inside its 80 % interval)."""
    from analytics.tools.forecast_metrics import CANDIDATES, _backtest
    from discovery.forecast import SeasonalTrendForecaster

    end = pd.Timestamp(cut)
    history, future = daily[:end], daily[end + pd.Timedelta(days=1):end + pd.Timedelta(days=91)]
    weeks = len(future) // 7
    actual = future.to_numpy()[: 7 * weeks].reshape(weeks, 7).sum(axis=1)
    chosen = _backtest(history, SeasonalTrendForecaster().fit(history))[0]
    row = {"data": name, "cut": cut, "weeks": weeks, "chosen": chosen.chosen if chosen else "auto"}
    for structure in CANDIDATES:
        try:
            frame = SeasonalTrendForecaster(structure=structure).fit(history).predict(7 * weeks)
        except ValueError:
            row[structure] = row[f"{structure} coverage"] = float("nan")
            continue
        # Days of a week move together (fixed weekday shares), so daily bounds add up to weekly ones.
        weekly_frame = frame.iloc[: 7 * weeks].groupby(np.arange(7 * weeks) // 7).sum()
        weekly = weekly_frame["forecast"].to_numpy()
        row[structure] = float(np.mean(np.abs(actual - weekly) / actual))
        row[f"{structure} coverage"] = float(np.mean((actual >= weekly_frame["lower"].to_numpy())
                                                     & (actual <= weekly_frame["upper"].to_numpy())))
        if structure == row["chosen"]:
            row["total_error"] = weekly.sum() / actual.sum() - 1
    return row


def daily_revenue(frame: pd.DataFrame, at: str, value: pd.Series) -> pd.Series:
    daily = value.groupby(pd.to_datetime(frame[at]).dt.normalize()).sum()
    return daily.reindex(pd.date_range(daily.index.min(), daily.index.max()), fill_value=0.0)


def scratch_db() -> tuple[Database, str]:
    name = "cib_bench_churn_" + uuid.uuid4().hex[:8]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    return Database(ADMIN_URL.rsplit("/", 1)[0] + "/" + name), name


def drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def retail(churn: bool = True) -> tuple[list[dict], list[dict]]:
    path = SHARED / "online_retail_ii" / "online_retail_II_2009_2010.parquet"
    every = pd.read_parquet(path, columns=["Invoice", "InvoiceDate", "Price", "Quantity"])
    every = every[~every["Invoice"].astype(str).str.startswith("A")]
    revenue = daily_revenue(every, "InvoiceDate", every["Quantity"] * every["Price"])
    forecasts = [forecast_rows(revenue, cut, "Online Retail II") for cut in RETAIL_FORECAST_CUTS]
    if not churn:
        return [], forecasts
    raw = pd.read_parquet(path, columns=["Invoice", "Customer ID", "InvoiceDate", "Price"])
    raw = raw[raw["Customer ID"].notna() & ~raw["Invoice"].astype(str).str[0].isin(["C", "A"]) & (raw["Price"] != 0)]
    sales = pd.DataFrame({"order": raw["Invoice"].astype(str), "customer": raw["Customer ID"].astype(int).astype(str),
                          "ordered_at": pd.to_datetime(raw["InvoiceDate"]).dt.tz_localize("UTC")})
    db, name = scratch_db()
    try:
        import_file(db, path)
        return [evaluate(db, sales, cut, "Online Retail II") for cut in RETAIL_CUTS], forecasts
    finally:
        db.close()
        drop(name)


def cdnow() -> tuple[list[dict], list[dict]]:
    """Forecast rows only (see the module docstring)."""
    path = SHARED / "cdnow" / "CDNOW_master.txt"
    frame = pd.read_csv(path, sep=r"\s+", skiprows=1, header=None, names=["customer", "date", "cds", "amount"],
                        dtype={"customer": str, "date": str})
    frame["day"] = pd.to_datetime(frame["date"], format="%Y%m%d")
    revenue = daily_revenue(frame, "day", frame["amount"])
    return [], [forecast_rows(revenue, cut, "CDNOW") for cut in CDNOW_FORECAST_CUTS]


def synthetic(customers: int, churn: bool = True) -> tuple[list[dict], list[dict]]:
    frame, _ = generate_store(StoreSpec(customers=customers, seed=7))
    revenue = daily_revenue(frame, "ordered_at", frame["quantity"] * frame["unit_price"] - frame["line_discount"].fillna(0))
    forecasts = [forecast_rows(revenue, cut, f"synthetic {customers // 1000}k")
                 for cut in SYNTHETIC_FORECAST_CUTS]
    if not churn:
        return [], forecasts
    known = frame[frame["customer_id"].notna() & (frame["customer_id"] != "") & (frame["quantity"] > 0)]
    sales = pd.DataFrame({"order": known["order_id"], "customer": known["customer_id"],
                          "ordered_at": pd.to_datetime(known["ordered_at"]).dt.tz_localize("UTC")})
    db, name = scratch_db()
    try:
        import_frame(db, frame, "synthetic")
        return [evaluate(db, sales, cut, f"synthetic {customers // 1000}k") for cut in SYNTHETIC_CUTS], forecasts
    finally:
        db.close()
        drop(name)


FORECAST_COLUMNS = (("auto", "seasonal-trend"), ("seasonal_naive", "last yr x growth"),
                    ("holt_winters", "Holt-Winters"), ("recent_mean", "last 4 weeks"))


def print_churn(rows: list[dict]) -> None:
    header = (f"{'data':<18}{'cut':<12}{'customers':>10}{'churn':>7}{'AUC model':>10}{'AUC freq':>9}{'AUC BG/NBD':>11}"
              f"{'Brier':>7}{'ECE':>7}{'E[purch] r':>11}{'total err':>10}  model")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['data']:<18}{r['cut']:<12}{r['customers']:>10,}{r['churn_rate']:>7.1%}{r['auc_model']:>10.3f}"
              f"{r['auc_frequency']:>9.3f}{r['auc_bgnbd']:>11.3f}{r['brier']:>7.3f}{r['ece']:>7.3f}"
              f"{r['purchases_corr']:>11.3f}{r['purchases_total_error']:>+10.1%}  {r['model']}")
    print()


def print_forecasts(forecasts: list[dict]) -> None:
    for title, suffix, extra in (("weekly MAPE over the 13 weeks after the cut", "", True),
                                 ("80 % interval coverage (share of those weeks inside it)", " coverage", False)):
        print(title)
        header = (f"{'data':<18}{'cut':<12}{'weeks':>6}" + "".join(f"{label:>18}" for _, label in FORECAST_COLUMNS)
                  + (f"  {'chosen':<15}{'total err':>10}" if extra else ""))
        print(header)
        print("-" * len(header))
        for f in forecasts:
            cut = f["cut"] + ("*" if f["cut"] in FRESH_FORECAST_CUTS else "")
            line = f"{f['data']:<18}{cut:<12}{f['weeks']:>6}" + "".join(
                f"{f[name + suffix]:>18.3f}" for name, _ in FORECAST_COLUMNS)
            if extra:
                line += f"  {f['chosen']:<15}{f.get('total_error', float('nan')):>+10.1%}"
            print(line)
        print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["retail", "synthetic", "cdnow"])
    parser.add_argument("--customers", type=int, default=8000, help="synthetic store size (default 8,000)")
    parser.add_argument("--forecast-only", action="store_true", help="skip the churn table")
    args = parser.parse_args()
    churn = not args.forecast_only
    rows, forecasts = [], []
    for wanted, run in (("retail", lambda: retail(churn)), ("synthetic", lambda: synthetic(args.customers, churn)),
                        ("cdnow", cdnow)):
        if args.only in (None, wanted):
            churn_rows, forecast = run()
            rows += churn_rows
            forecasts += forecast
    if rows:
        print_churn(rows)
    print_forecasts(forecasts)


if __name__ == "__main__":
    main()
