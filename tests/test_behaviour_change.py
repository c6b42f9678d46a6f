"""Behaviour change from a single discovery run: each regular customer's last weeks against their
own history, checked against an independent pandas computation on the synthetic store, and the
question answered (with rows, exit 0) on a fresh install."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from analytics.core import current_run
from analytics.tools.registry import run_tool
from tests.synthetic_stores import loaded_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=1200, seed=17) as loaded:
        yield loaded.ctx, loaded.frame, loaded.url


def oracle(frame: pd.DataFrame, as_of: pd.Timestamp, weeks: int) -> dict[str, set[str]]:
    """The signals per customer computed from the generator's rows."""
    lines = frame.assign(value=frame["quantity"] * frame["unit_price"] - frame["line_discount"].fillna(0),
                         at=pd.to_datetime(frame["ordered_at"]))
    lines = lines[lines["customer_id"].notna() & (lines["customer_id"] != "") & (lines["at"] <= as_of)]
    orders = lines.groupby("order_id").agg(customer=("customer_id", "first"), at=("at", "min"),
                                           total=("value", "sum"), discount=("line_discount", "sum"),
                                           returned=("quantity", lambda q: (q < 0).all()))
    start = as_of - pd.Timedelta(days=7 * weeks)
    orders["recent"] = orders["at"] >= start
    signals: dict[str, set[str]] = {}
    for customer, own in orders.groupby("customer"):
        sales, returns = own[~own["returned"]], own[own["returned"]]
        before, recent = sales[~sales["recent"]], sales[sales["recent"]]
        if len(before) < 3:
            continue
        found = set()
        days = max((start - sales["at"].min()).total_seconds() / 86400, 30.0)
        if recent.empty and len(before) / days * 7 * weeks >= 1.0:
            found.add("pace_slowing")
        if len(recent) and recent["total"].mean() < 0.6 * before["total"].mean():
            found.add("basket_shrinking")
        if len(recent) >= 2 and (recent["discount"] > 0).mean() >= 0.6 and (before["discount"] > 0).mean() < 0.3:
            found.add("discount_dependence")
        gross_recent, returns_recent = recent["total"].sum(), -returns[returns["recent"]]["total"].sum()
        returns_before = -returns[~returns["recent"]]["total"].sum()
        if gross_recent > 0 and returns_recent >= 0.3 * gross_recent and returns_before < 0.1 * max(before["total"].sum(), 0.01):
            found.add("return_spike")
        signals[customer] = found
    return signals


@pytest.mark.parametrize("weeks", [2, 4, 8])
def test_recent_change_matches_pandas(store, weeks):
    ctx, frame, _ = store
    result = run_tool(ctx, "analyze_behavior", {"focus": "recent_change", "window_weeks": weeks, "limit": 100})
    as_of = pd.Timestamp(current_run(ctx).as_of).tz_convert("UTC").tz_localize(None)
    expected = oracle(frame, as_of, weeks)
    change = result.recent_change
    assert change.customers_judged == len(expected)
    for signal in ("pace_slowing", "basket_shrinking", "discount_dependence", "return_spike"):
        assert change.by_signal.get(signal, 0) == sum(signal in s for s in expected.values()), signal
    assert change.customers_changed >= max(change.by_signal.values())
    assert result.changed_customers and len(result.changed_customers) <= 100
    values = [c.lifetime_value for c in result.changed_customers]
    assert values == sorted(values, reverse=True)
    assert f"last {weeks} weeks" in result.summary


def test_the_question_is_answered_with_rows_on_a_single_run(store):
    _, _, url = store
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_"))}
    env.update(DATABASE_URL=url, LOG_LEVEL="WARNING")
    done = subprocess.run([sys.executable, "app.py", "ask", "which customers changed behaviour in the last 2 weeks"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "changed in the last 2 weeks" in done.stdout and "C-" in done.stdout
