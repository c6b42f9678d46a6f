"""Review fixes to analyze_customers: "Export CSV" delivers every matching customer (not the page
shown), and "expected 12m loss" is churn probability x recent annual spend, checked against the
fixture store computed independently in Python."""
from __future__ import annotations

import csv
import io
import json

import pytest

from analytics.tools.catalog import analyze_customers as customers_tool
from analytics.tools.inputs import AnalyzeCustomersInput
from analytics.tools.registry import run_tool
from tests.analytics_fixture import (AS_OF, CURRENT, analytics_db, ctx, loaded,  # noqa: F401 - fixtures
                                     pii_strings, value_figures)
from tests.test_slack_support import Harness


def _all_pages(ctx, arguments: dict) -> list[dict]:
    rows, offset = [], 0
    while True:
        page = run_tool(ctx, "analyze_customers", {**arguments, "limit": 3, "offset": offset})
        rows += [r.model_dump() for r in page.rows]
        if not page.has_more:
            return rows
        offset += 3


@pytest.mark.parametrize("arguments", [
    {"sort_by": "churn_risk"},
    {"sort_by": "value", "segment": "frequency:frequent"},
    {"sort_by": "recency", "min_value": 100},
])
def test_export_is_every_matching_customer_in_page_order(ctx, loaded, arguments):
    export = customers_tool.export_rows(ctx, AnalyzeCustomersInput(**arguments, limit=2))
    pages = _all_pages(ctx, arguments)
    assert export.matching == len(pages) == len(export.rows) and export.note is None
    assert [dict(zip(export.columns, r)) for r in export.rows] == pages


def test_export_is_capped_with_a_note(ctx, loaded):
    export = customers_tool.export_rows(ctx, AnalyzeCustomersInput(sort_by="value"), max_rows=4)
    assert len(export.rows) == 4 and export.matching == 10
    assert "4 of 10" in export.note and "value" in export.note


def test_expected_loss_is_churn_times_recent_annual_spend(ctx, loaded):
    expected = 0.0
    for store_id, profile in CURRENT.items():
        v = value_figures(store_id, AS_OF)
        annual = max(v["revenue"] * 365 / max(v["tenure_days"], 365), v["avg_order_value"] or 0)
        expected += profile.churn * annual
    totals = run_tool(ctx, "analyze_customers", {}).totals
    assert totals.expected_12m_loss == pytest.approx(expected, abs=0.01)
    # The old definition (churn x predicted value, which is already churn-discounted) differs here.
    assert abs(totals.expected_12m_loss - sum(p.churn * p.clv12 for p in CURRENT.values())) > 1


@pytest.fixture
def live(loaded, ctx, settings):
    db, fx = loaded
    h = Harness(settings, db, real_analytics=True, ctx=ctx)
    yield h, fx
    h.close()


def test_slack_export_of_a_customer_page_holds_everyone_matching(live):
    h, fx = live
    value = json.dumps({"tool": "analyze_customers", "arguments": {"sort_by": "churn_risk", "limit": 3}})
    h.action({"action_id": "export_csv", "block_id": "b", "type": "button", "value": value})
    h.fake.wait_for("files.completeUploadExternal", timeout=20)
    upload = h.fake.calls_to("upload")[0].args
    text = h.fake.uploads[upload["file_id"]].decode()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 10 and {r["public_id"] for r in rows} == set(fx.public_ids.values())
    by_churn = sorted(CURRENT, key=lambda s: -CURRENT[s].churn)
    assert [r["public_id"] for r in rows] == [fx.public_ids[s] for s in by_churn]
    assert not any("email" in c or "name" == c or "phone" in c for c in rows[0])
    sent = json.dumps([c.args for c in h.fake.calls]) + text
    assert not [s for s in pii_strings() if s and s in sent]
