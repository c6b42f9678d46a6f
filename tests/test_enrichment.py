"""Customer context and name resolution on the fixture store."""
from __future__ import annotations

import pytest

from analytics.enrichment import compensation_tier, customer_context
from analytics.resolve import resolve_archetype, resolve_customer, resolve_customer_by_contact, resolve_segment
from analytics.core import current_run, run_days_ago, require_current_run
from analytics.core import ToolContext, ToolError
from tests.analytics_fixture import (AS_OF, CUSTOMERS, CURRENT, OLD_AS_OF, analytics_db, ctx, loaded,  # noqa: F401
                                     pii_strings, value_figures)


def test_runs(ctx, loaded):
    _, fx = loaded
    assert current_run(ctx).run_id == fx.current_run
    for days in (7, 14, 28):
        assert run_days_ago(ctx, days).run_id == fx.old_run
    assert run_days_ago(ctx, 29) is None
    assert run_days_ago(ctx, 28).as_of == OLD_AS_OF   # exactly 28 days; half a day of slack for schedules


def test_no_run_yet_is_a_clear_error(fresh_db, settings):
    empty = ToolContext(db=fresh_db, settings=settings)
    assert current_run(empty) is None
    with pytest.raises(ToolError, match="python app.py discover"):
        require_current_run(empty)


def test_resolve_customer(ctx, loaded):
    _, fx = loaded
    pid = fx.public_ids["S004"]
    assert resolve_customer(ctx, pid) == fx.customer_ids["S004"]
    assert resolve_customer(ctx, pid.lower()) == fx.customer_ids["S004"]
    assert resolve_customer(ctx, "S004") == fx.customer_ids["S004"]
    with pytest.raises(ToolError, match="C-00000000"):
        resolve_customer(ctx, "C-00000000")
    assert resolve_customer_by_contact(ctx, email="TOMASZ.KOWAL@example.com") == fx.customer_ids["S004"]
    assert resolve_customer_by_contact(ctx, phone="+1 555-010-0002") == fx.customer_ids["S002"]
    assert resolve_customer_by_contact(ctx, email="nobody@example.com") is None


def test_resolve_segment(ctx):
    assert resolve_segment(ctx, "frequency:frequent") == ("frequency", "frequent")
    assert resolve_segment(ctx, "Big_Spenders") == ("value", "big spenders")
    assert resolve_segment(ctx, "value: big spendres") == ("value", "big spenders")
    assert resolve_segment(ctx, "one time") == ("frequency", "one-time")
    assert resolve_segment(ctx, "frequency occasional") == ("frequency", "occasional")
    with pytest.raises(ToolError, match="spenders"):   # ambiguous: lists both spenders segments
        resolve_segment(ctx, "spenders")
    with pytest.raises(ToolError, match="'banana'"):
        resolve_segment(ctx, "banana")
    with pytest.raises(ToolError, match="Unknown axis 'colour'"):
        resolve_segment(ctx, "colour:red")


def test_resolve_archetype(ctx):
    assert resolve_archetype(ctx, "a-AAA111") == "A-aaa111"
    assert resolve_archetype(ctx, "steady regulars") == "A-bbb222"
    assert resolve_archetype(ctx, "one and done") == "A-ccc333"
    with pytest.raises(ToolError, match="Unknown archetype 'zzz'"):
        resolve_archetype(ctx, "zzz")


def test_customer_context_figures(ctx, loaded):
    _, fx = loaded
    c = customer_context(ctx, fx.customer_ids["S007"])
    v = value_figures("S007", AS_OF)
    assert (c.orders, c.lifetime_value) == (3, 210.0) == (v["orders"], v["revenue"])  # 3 x 80 - 30 returned
    assert c.days_since_last_order == 120
    assert c.churn_probability == CURRENT["S007"].churn and c.risk_level == "high"
    assert c.archetype_name == "Steady regulars"
    assert {(s.axis, s.segment) for s in c.dominant_segments} == {("frequency", "occasional"), ("value", "modest spenders")}
    assert [o.kind for o in c.recent_orders] == ["return", "sale", "sale", "sale"]
    assert c.recent_orders[0].total == -30.0 and c.recent_orders[0].categories == ["patterns"]
    codes = {r.code for r in c.open_risks}
    assert {"recent_return", "high_churn_risk", "lapsing"} <= codes
    assert c.pii is None

    s004 = customer_context(ctx, fx.customer_ids["S004"])
    assert s004.discounted_order_share == 0.75 and "discount_dependent" in {r.code for r in s004.open_risks}
    s001 = customer_context(ctx, fx.customer_ids["S001"])
    assert len(s001.recent_orders) == 5 and s001.compensation.percent == 25
    assert s001.lifetime_value == 12000.0


def test_context_has_pii_only_when_asked(ctx, loaded):
    _, fx = loaded
    plain = customer_context(ctx, fx.customer_ids["S002"]).model_dump_json()
    assert not [s for s in pii_strings() if s in plain]
    full = customer_context(ctx, fx.customer_ids["S002"], include_pii=True)
    assert full.pii.email == CUSTOMERS["S002"][1] and full.pii.name == CUSTOMERS["S002"][0]


def test_compensation_tiers(settings):
    assert [compensation_tier(settings, v).percent for v in (12000, 10000, 1500, 600, 10)] == [25, 25, 20, 15, 10]


def test_customer_imported_after_the_run(fresh_db, settings):
    from datetime import timedelta

    from analytics.cache import Cache
    from analytics.pseudonyms import assign_public_ids
    from analytics.tools.registry import run_tool
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    with fresh_db.cursor() as cur:
        cur.execute("INSERT INTO customers (store_customer_id, email, name) VALUES ('S999', 'late@example.com', "
                    "'Late Comer') RETURNING customer_id")
        cid = cur.fetchone()["customer_id"]
        for number, days in enumerate((3, 1)):
            cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, subtotal, total) "
                        "VALUES (%s, %s, %s, 60, 60)", (f"LATE{number}", cid, AS_OF + timedelta(days=days)))
    assign_public_ids(fresh_db, settings)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    c = run_tool(ctx, "lookup_customer", {"customer": "S999"}).customer
    assert not c.has_profile and (c.orders, c.lifetime_value, c.average_order_value) == (2, 120.0, 60.0)
    assert c.days_since_last_order == 0 and c.value_tier == "regular" and c.compensation.percent == 10
    assert "Not scored" in run_tool(ctx, "lookup_customer", {"customer": "S999"}).summary
