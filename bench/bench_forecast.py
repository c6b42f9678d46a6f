"""The forecast model on real and synthetic stores: fit + predict time, the tool's whole model choice
and one Holt-Winters fit, and backtest errors against
the last-4-weeks-mean baseline (13 weeks held out), with the model's structures side by side.

    python bench/bench_forecast.py [--customers 27000] [--repeat 5] [--no-synthetic]

Series: Online Retail II 2009-2010 (weekly revenue net of cancellations, as in the test), the
synthetic fabric store (discovery/synthetic.py, 3 years; also its last 53 weeks only, to match the
Online Retail history length), and a generated store with growth and no season (60 weeks), where
yearly terms fitted on under a year of history are a wrong prior. Tool latency on the database is
measured by bench/bench_tools.py.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discovery.forecast import SeasonalTrendForecaster, weekly_totals  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HOLDOUT = 13


def online_retail_daily() -> pd.Series:
    frame = pd.read_parquet(SHARED / "online_retail_ii/online_retail_II_2009_2010.parquet",
                            columns=["Invoice", "Quantity", "Price", "InvoiceDate"])
    frame = frame[~frame["Invoice"].str.startswith("A")]  # bad-debt adjustments are not sales
    day = pd.to_datetime(frame["InvoiceDate"]).dt.normalize()
    return (frame["Quantity"].astype(float) * frame["Price"]).groupby(day).sum()


def synthetic_daily(customers: int) -> pd.Series:
    from discovery.synthetic import StoreSpec, generate_store

    lines, _ = generate_store(StoreSpec(customers=customers))
    amount = lines["quantity"].astype(float) * lines["unit_price"] - lines["line_discount"]
    return amount.groupby(pd.to_datetime(lines["ordered_at"]).dt.normalize()).sum()


def growth_without_season(weeks: int = 60, seed: int = 3) -> pd.Series:
    rng = np.random.default_rng(seed)
    days = pd.date_range("2022-01-03", periods=7 * weeks, freq="D")
    weekday = np.array([1.0, 1.1, 1.0, 1.2, 1.4, 0.7, 0.5])[days.day_of_week]
    orders = rng.poisson(6 * weekday * np.exp(0.3 * np.arange(len(days)) / 365))
    spend = np.array([rng.lognormal(3.5, 0.5, n).sum() for n in orders])  # one draw per day, 420 days
    return pd.Series(spend, index=days)


def median_ms(step, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def forecast_step(daily: pd.Series) -> None:
    """What the forecast tool computes per question: the model, the backtest of every candidate at
    every origin, the chosen model refitted, its 90-day paths."""
    from analytics.tools.forecast_metrics import _backtest

    summary, _ = _backtest(daily, SeasonalTrendForecaster().fit(daily))
    chosen = summary.chosen if summary else "auto"
    SeasonalTrendForecaster(structure=chosen).fit(daily).predict(90)


def report(name: str, daily: pd.Series, repeat: int) -> list[str]:
    weekly = weekly_totals(daily)
    ms = median_ms(lambda: SeasonalTrendForecaster().fit(daily).predict(90), repeat)
    choice_ms = median_ms(lambda: forecast_step(daily), repeat)
    holt_winters_ms = median_ms(lambda: SeasonalTrendForecaster(structure="holt_winters").fit(daily), repeat)
    results = {s: SeasonalTrendForecaster(structure=s).backtest(weekly, holdout_weeks=HOLDOUT)
               for s in ("auto", "no_yearly", "recent_mean")}
    auto = results["auto"]
    fitted = SeasonalTrendForecaster().fit(weekly.iloc[:-HOLDOUT])
    return [f"{name:<34} {len(weekly):>5} {ms:>9.1f} {choice_ms:>9.1f} {holt_winters_ms:>7.1f} {auto.model_wmape:>7.3f} {auto.baseline_wmape:>8.3f} "
            f"{results['no_yearly'].model_wmape:>9.3f} {auto.model_mape:>7.3f} {auto.coverage:>8.0%}  "
            f"{'+'.join(fitted.components_)}"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=27_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-synthetic", action="store_true")
    args = parser.parse_args()

    series: list[tuple[str, pd.Series]] = [("Online Retail II 2009-2010", online_retail_daily())]
    synthetic_path = Path(__file__).resolve().parents[1] / "discovery" / "synthetic.py"
    if synthetic_path.exists() and not args.no_synthetic:
        started = time.perf_counter()
        store = synthetic_daily(args.customers)
        print(f"(generated the {args.customers:,}-customer synthetic store in {time.perf_counter() - started:.1f} s)")
        series += [(f"synthetic {args.customers // 1000}k, 3 years", store),
                   (f"synthetic {args.customers // 1000}k, last 53 weeks", store.iloc[-53 * 7:])]
    series.append(("generated: growth, no season", growth_without_season()))

    print(f"\nBacktest: last {HOLDOUT} weeks held out; WMAPE = sum|error| / sum actual over weekly revenue;")
    print("baseline = mean of the 4 weeks before the cut; fit+predict = daily series, 90-day forecast (median ms);")
    print("choice = the tool's whole step (model, backtest of every candidate, chosen model, paths); HW = one")
    print("Holt-Winters fit.")
    header = (f"{'series':<34} {'weeks':>5} {'fit+pred':>9} {'choice':>9} {'HW fit':>7} {'model':>7} {'baseline':>8} {'no_yearly':>9} "
              f"{'MAPE':>7} {'80% cov':>8}  components (fit on the cut history)")
    print(header)
    print("-" * len(header))
    for name, daily in series:
        for line in report(name, daily, args.repeat):
            print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
