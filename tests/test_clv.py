"""Lifetime value that cannot explode: spend net of returns, Gamma-Gamma fitted on repeat customers
with positive spend only, zero for customers with no positive net spend, and a cap at what the
store's repeat customers show. Unit cases on a frame, then the same cases end to end through import
and discovery (a fully cancelled order, a customer with only returns, one giant wholesale order)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from discovery.churn import ORDER_VALUE_CAP_QUANTILE, expected_order_values
from discovery.importer import import_frame
from discovery.pipeline import run_discovery
from discovery.synthetic import StoreSpec, generate_store
from sql import Database


def _frame(rng) -> pd.DataFrame:
    orders = rng.integers(2, 12, 400)
    revenue = orders * rng.gamma(4.0, 20.0, 400)
    frame = pd.DataFrame({"orders": orders, "revenue": revenue})
    extra = pd.DataFrame({"orders": [1, 1, 1, 3], "revenue": [0.0, 0.0, 50_000.0, 0.0]},
                         index=["cancelled", "only_returns", "wholesale", "returned_everything"])
    return pd.concat([frame, extra])


def test_zero_net_spend_is_worth_nothing_and_giants_are_capped():
    frame = _frame(np.random.default_rng(3))
    values, report = expected_order_values(frame)
    by_name = dict(zip(frame.index, values))
    assert by_name["cancelled"] == 0 and by_name["only_returns"] == 0 and by_name["returned_everything"] == 0
    repeat_means = (frame["revenue"] / frame["orders"])[(frame["orders"] >= 2) & (frame["revenue"] > 0)]
    cap = np.quantile(repeat_means, ORDER_VALUE_CAP_QUANTILE)
    assert by_name["wholesale"] == pytest.approx(cap) and by_name["wholesale"] < 1_000
    assert report["model"] == "gamma-gamma" and report["fitted_on"] == len(repeat_means)
    assert report["capped_customers"] >= 1 and report["zero_spend_customers"] == 3
    assert (values <= cap + 1e-9).all() and (values >= 0).all()


def test_too_few_repeat_customers_fall_back_to_the_observed_mean():
    frame = pd.DataFrame({"orders": [2, 1, 1], "revenue": [100.0, 40.0, 0.0]})
    values, report = expected_order_values(frame)
    assert report["model"] == "observed mean" and "repeat customers" in report["fallback_reason"]
    assert list(values) == [50.0, 40.0, 0.0]


def _special_orders(template: pd.DataFrame) -> pd.DataFrame:
    """Three customers the generator does not make: one fully cancelled order of 52,512.50, one with
    only a return, one giant wholesale order."""
    row = template.iloc[0].to_dict()

    def line(order_id, customer, when, qty, price):
        return {**row, "order_id": order_id, "customer_id": customer, "ordered_at": pd.Timestamp(when),
                "email": f"{customer}@example.com", "name": "Test Buyer", "phone": "", "quantity": qty,
                "unit_price": price, "line_discount": 0.0, "discount_code": ""}

    return pd.DataFrame([
        line("X-1", "cancel-1", "2024-06-01 10:00:00", 1, 52_512.50),
        line("RX-1", "cancel-1", "2024-06-02 10:00:00", -1, 52_512.50),
        line("RX-2", "returns-only", "2024-07-01 10:00:00", -2, 30.00),
        line("X-3", "wholesale-1", "2024-08-01 10:00:00", 500, 100.00),
    ])


def test_end_to_end_cases_through_import_and_discovery(fresh_database_url, settings):
    url = fresh_database_url()
    db = Database(url, migrate=False)
    try:
        frame, _ = generate_store(StoreSpec(customers=600, seed=4))
        import_frame(db, pd.concat([frame, _special_orders(frame)], ignore_index=True), "synthetic + special")
        assert run_discovery(db, settings.model_copy(update={"database_url": url})).status == "published"
        with db.cursor() as cur:
            cur.execute("""SELECT c.store_customer_id, p.predicted_clv_12m::float8 AS clv, p.revenue::float8 AS revenue
                           FROM customer_profiles p JOIN customers c USING (customer_id)
                           WHERE p.run_id = (SELECT run_id FROM discovery_runs WHERE is_current)""")
            profiles = {r["store_customer_id"]: r for r in cur.fetchall()}
    finally:
        db.close()
    assert profiles["cancel-1"]["revenue"] == 0 and profiles["cancel-1"]["clv"] == 0
    assert "returns-only" not in profiles or profiles["returns-only"]["clv"] == 0
    ordinary = sorted(p["clv"] for k, p in profiles.items() if k not in ("cancel-1", "returns-only", "wholesale-1"))
    # the wholesale buyer's one order says little about the next: bounded by what repeat customers show
    assert profiles["wholesale-1"]["clv"] <= ordinary[-1]
    assert profiles["wholesale-1"]["clv"] < 50_000
