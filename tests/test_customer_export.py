"""Review fixes: "Export CSV" on a customer list delivers every matching customer (not the page
shown), and "expected 12m loss" is churn probability x recent annual spend, checked against the
fixture store computed independently in Python; the customer card of a customer the run has not
scored gives the real days since the last order and says "not scored yet"."""
from __future__ import annotations

import csv
import io
import json

import pytest

from analytics.tools import analyze_customers as customers_tool
from analytics.tools.analyze_customers import AnalyzeCustomersInput
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


def test_card_of_a_customer_the_run_has_not_scored(fresh_db, settings):
    """A customer imported after the current run: the card gives the real days since the last order
    (from the orders table) and says plainly that the run has not scored them yet."""
    from datetime import timedelta

    from analytics.cache import Cache
    from analytics.pseudonyms import assign_public_ids
    from analytics.core import ToolContext
    from bot.views.results import render_result
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    with fresh_db.cursor() as cur:
        cur.execute("INSERT INTO customers (store_customer_id, email, name) VALUES ('S998', 'late@example.com', "
                    "'Late Comer'), ('S999', 'none@example.com', 'No Orders') RETURNING customer_id")
        late, _ = [r["customer_id"] for r in cur.fetchall()]
        # The store's latest order is 9 days after the run; this customer's last is 4 days before that.
        for number, days in enumerate((2, 5)):
            cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, subtotal, total) "
                        "VALUES (%s, %s, %s, 60, 60)", (f"LATE{number}", late, AS_OF + timedelta(days=days)))
        cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, subtotal, total) "
                    "VALUES ('LATEST', (SELECT customer_id FROM customers WHERE store_customer_id = 'S001'), %s, 10, 10)",
                    (AS_OF + timedelta(days=9),))
    assign_public_ids(fresh_db, settings)
    tool_ctx = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))

    def card_fields(store_id: str) -> dict[str, str]:
        result = run_tool(tool_ctx, "lookup_customer", {"customer": store_id})
        text = json.dumps(render_result(result))
        return {f.split("\n", 1)[0].strip("*"): f.split("\n", 1)[1]
                for f in (x["text"] for b in render_result(result) for x in b.get("fields", []))}, text

    fields, text = card_fields("S998")
    assert fields["Last order"] == "4 days ago"
    assert "not scored yet" in fields["Churn risk"] and "–" not in fields["Churn risk"]
    assert "– days" not in text and "Late Comer" not in text and "late@example.com" not in text
    fields, text = card_fields("S999")
    assert fields["Last order"] == "no orders yet" and "– days" not in text


def test_slack_export_with_a_filter_the_run_does_not_know_says_which(live):
    h, _ = live
    value = json.dumps({"tool": "analyze_customers", "arguments": {"segment": "nosuch"}})
    h.action({"action_id": "export_csv", "block_id": "b", "type": "button", "value": value})
    post = h.fake.wait_for("chat.postMessage", timeout=20)[0].args
    assert "'nosuch'" in post["text"] and "error is logged" not in post["text"]
    assert h.fake.calls_to("upload") == []
