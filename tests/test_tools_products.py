"""analyze_products on the fixture store, checked against an independent pandas computation from the
fixture's own Python data (not the SQL)."""
from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from analytics.cache import Cache
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool
from analytics.items import known_categories
from tests.product_oracles import bought_together
from tests.analytics_fixture import (AS_OF, CURRENT, ORDERS, PRODUCTS, analytics_db, ctx, loaded,  # noqa: F401
                                     pii_strings)


def _lines() -> pd.DataFrame:
    """One row per order line, as the fixture loads it (the order discount sits on line 1)."""
    rows = []
    for number, (store_id, days, kind, lines, discount) in enumerate(ORDERS, start=1):
        for line_no, (sku, qty) in enumerate(lines, start=1):
            rows.append({"order": number, "customer": store_id, "at": AS_OF - timedelta(days=days),
                         "kind": kind, "sku": sku, "category": PRODUCTS[sku][1], "title": PRODUCTS[sku][0],
                         "qty": qty, "amount": PRODUCTS[sku][2] * qty - (discount if line_no == 1 else 0)})
    return pd.DataFrame(rows)


def _expected(lines: pd.DataFrame, key: str) -> pd.DataFrame:
    sales = lines[lines["kind"] == "sale"]
    grouped = lines.groupby(key)
    per_buyer = sales.groupby([key, "customer"])["order"].nunique()
    out = pd.DataFrame({
        "revenue": grouped["amount"].sum(),
        "gross_sales": sales.groupby(key)["amount"].sum(),
        "returns": -lines[lines["kind"] == "return"].groupby(key)["amount"].sum(),
        "units": grouped["qty"].sum(),
        "orders": sales.groupby(key)["order"].nunique(),
        "customers": per_buyer.groupby(level=0).size(),
        "repeat_rate": (per_buyer >= 2).groupby(level=0).mean(),
    }).fillna({"returns": 0.0})
    out["share_of_revenue"] = out["revenue"] / lines["amount"].sum()
    return out


def _check_rows(result, expected: pd.DataFrame, key_field: str):
    assert result.totals.groups == len(expected)
    for row in result.rows:
        want = expected.loc[getattr(row, key_field)]
        assert row.revenue == pytest.approx(want["revenue"], abs=0.01)
        assert row.gross_sales == pytest.approx(want["gross_sales"], abs=0.01)
        assert row.returns == pytest.approx(want["returns"], abs=0.01)
        assert row.units == want["units"]
        assert row.orders == want["orders"]
        assert row.customers == want["customers"]
        assert row.repeat_rate == pytest.approx(want["repeat_rate"], abs=1e-4)
        assert row.share_of_revenue == pytest.approx(want["share_of_revenue"], abs=1e-4)


def _check_totals(result, lines: pd.DataFrame):
    sales = lines[lines["kind"] == "sale"]
    per_buyer = sales.groupby("customer")["order"].nunique()
    assert result.totals.revenue == pytest.approx(lines["amount"].sum(), abs=0.01)
    assert result.totals.returns == pytest.approx(-lines.loc[lines["kind"] == "return", "amount"].sum(), abs=0.01)
    assert result.totals.orders == sales["order"].nunique()
    assert result.totals.customers == len(per_buyer)
    assert result.totals.repeat_rate == pytest.approx((per_buyer >= 2).mean(), abs=1e-4)


def test_categories_all_history(ctx):
    lines = _lines()
    result = run_tool(ctx, "analyze_products", {})
    expected = _expected(lines, "category").sort_values("revenue", ascending=False)
    assert [r.category for r in result.rows] == list(expected.index)
    _check_rows(result, expected, "category")
    _check_totals(result, lines)
    # Hand check, per customer: 12000 + 1200 + 600 + 170 + 45 + 30 + (240 - 30) + 250 + 50 + 95.
    assert result.totals.revenue == pytest.approx(14650.0)
    assert any("net of returns" in note for note in result.notes)
    assert "net revenue 14,650.00" in result.summary and "kits" in result.summary


def test_products_by_repeat_rate_with_limit(ctx):
    lines = _lines()
    result = run_tool(ctx, "analyze_products", {"group_by": "product", "sort_by": "repeat_rate", "limit": 3})
    expected = _expected(lines, "sku")
    assert len(result.rows) == 3
    rates = [r.repeat_rate for r in result.rows]
    assert rates == sorted(rates, reverse=True)
    assert rates[0] == pytest.approx(expected["repeat_rate"].max())
    _check_rows(result, expected, "sku")
    assert {r.product for r in result.rows} <= {title for title, _, _ in PRODUCTS.values()}
    _check_totals(result, lines)  # totals cover all 5 products, not just the page of 3


def test_segment_and_period(ctx):
    lines = _lines()
    frequent = [s for s, p in CURRENT.items() if p.frequency == "frequent"]
    latest = lines["at"].max().date()  # the reference date: the latest order
    start = latest + timedelta(days=1) - timedelta(days=90)
    scoped = lines[lines["customer"].isin(frequent) & (lines["at"].dt.date >= start)
                   & (lines["at"].dt.date <= latest)]
    result = run_tool(ctx, "analyze_products", {"segment": "frequency:frequent", "period": "last_90_days"})
    expected = _expected(scoped, "category")
    _check_rows(result, expected, "category")
    _check_totals(result, scoped)
    assert result.scope == f"segment frequency:frequent ({len(frequent)} customers)"
    assert start.isoformat() in result.period


def test_category_filter_and_archetype(ctx):
    lines = _lines()
    members = [s for s, p in CURRENT.items() if p.archetype == "A-bbb222"]
    scoped = lines[lines["customer"].isin(members) & (lines["category"] == "fabric")]
    result = run_tool(ctx, "analyze_products", {"group_by": "product", "category": "Fabric",
                                                "archetype": "Steady regulars"})
    _check_rows(result, _expected(scoped, "sku"), "sku")
    _check_totals(result, scoped)


def test_small_groups_are_not_broken_down(loaded, settings):
    db, _ = loaded
    strict = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 5}), cache=None)
    result = run_tool(strict, "analyze_products", {"archetype": "A-ccc333", "bought_with": "F2"})
    assert result.rows == [] and result.bought_together == []
    assert any("minimum group size of 5" in note for note in result.notes)
    assert result.totals.customers == 3  # the group's own total is still given


def test_bought_together_with_a_product(ctx):
    lines = _lines()
    sales = lines[lines["kind"] == "sale"]
    anchor_orders = set(sales.loc[sales["sku"] == "P1", "order"])
    n_orders = sales["order"].nunique()
    others = sales[sales["order"].isin(anchor_orders) & (sales["sku"] != "P1")]
    together = others.groupby("sku")["order"].nunique()
    item_orders = sales[sales["sku"] != "P1"].groupby("sku")["order"].nunique()

    result = run_tool(ctx, "analyze_products", {"group_by": "product", "bought_with": "p1"})
    assert result.anchor_orders == len(anchor_orders) == 7
    assert "Star quilt pattern (SKU P1)" in result.bought_with
    assert set(together.index) == {"F1", "F2"}
    lift = {sku: (together[sku] / len(anchor_orders)) / (item_orders[sku] / n_orders) for sku in together.index}
    # Only companions bought with it more often than chance are listed; the others are counted.
    assert {r.sku for r in result.bought_together} == {sku for sku, value in lift.items() if value > 1}
    assert result.left_out_below_chance == sum(value <= 1 for value in lift.values())
    assert "Lift: how many times more often" in " ".join(result.notes)
    assert result.rows == []  # with bought_with, the pairs are the answer
    lifts = [r.lift for r in result.bought_together]  # both pairs clear the 3-order floor: lift decides
    assert lifts == sorted(lifts, reverse=True)
    first = result.bought_together[0]
    assert result.summary.startswith(f"Bought with Star quilt pattern (SKU P1) (7 orders): first {first.item} "
                                     f"({first.orders_together} orders together, lift {lifts[0]:.1f})")
    for row in result.bought_together:
        confidence = together[row.sku] / len(anchor_orders)
        assert row.orders_together == together[row.sku]
        assert row.share_of_anchor_orders == pytest.approx(confidence, abs=1e-4)
        assert row.share_of_all_orders == pytest.approx(together[row.sku] / n_orders, abs=1e-4)
        assert row.lift == pytest.approx(confidence / (item_orders[row.sku] / n_orders), abs=1e-3)


def test_bought_together_with_a_category_and_title_words(ctx):
    result = run_tool(ctx, "analyze_products", {"bought_with": "notions"})
    assert result.bought_with == "category 'notions'"
    # notions (N1) travels with kits (S002 x4), fabric (S005 F2, S008 F1 x5, S010 F1) — hand count;
    # the listed ones are those of them bought with it more often than chance.
    pairs = _category_lifts(_lines(), "notions")
    assert {k: n for k, (n, _) in pairs.items()} == {"fabric": 7, "kits": 4}
    assert {r.item: r.orders_together for r in result.bought_together} == {
        k: n for k, (n, lift) in pairs.items() if lift > 1}
    by_title = run_tool(ctx, "analyze_products", {"bought_with": "quilt kit"})
    assert "Deluxe quilt kit (SKU K1)" in by_title.bought_with
    kit_pairs = _category_lifts(_lines()[lambda f: (f["sku"] == "K1") | (f["category"] != "kits")], "kits")
    assert [(r.item, r.orders_together) for r in by_title.bought_together] == [
        (k, n) for k, (n, lift) in kit_pairs.items() if lift > 1]


def _category_lifts(lines: pd.DataFrame, anchor: str) -> dict[str, tuple[int, float]]:
    """category -> (orders with the anchor category, lift), from the fixture's sale lines."""
    sales = lines[lines["kind"] == "sale"]
    per_order = sales.groupby("order")["category"].agg(set)
    n = len(per_order)
    with_anchor = per_order[per_order.map(lambda c: anchor in c)]
    out = {}
    for category in sorted(set(sales["category"]) - {anchor}):
        together = int(with_anchor.map(lambda c: category in c).sum())
        if together:
            share = per_order.map(lambda c: category in c).sum() / n
            out[category] = (together, (together / len(with_anchor)) / share)
    return out


def test_the_stores_top_pairs_are_above_chance(ctx):
    result = run_tool(ctx, "analyze_products", {"pairs": True})
    assert result.rows == [] and "Lift:" in " ".join(result.notes)
    # The fixture store is tiny: no pair reaches the minimum of 20 orders together, and the answer says so.
    assert result.top_pairs == [] and "more often than chance" in result.summary


@pytest.mark.parametrize("arguments, fragment", [
    ({"category": "yarn"}, "'yarn'"),
    ({"bought_with": "flux capacitor"}, "'flux capacitor'"),
    ({"period": "next_year"}, "'next_year'"),
    ({"segment": "frequency:hyperactive"}, "hyperactive"),
    ({"archetype": "A-zzz999"}, "A-zzz999"),
    ({"group_by": "brand"}, "group_by"),
])
def test_user_errors_name_the_value(ctx, arguments, fragment):
    with pytest.raises(ToolError) as caught:
        run_tool(ctx, "analyze_products", arguments)
    assert fragment in str(caught.value)


def test_no_personal_data_and_cache_round_trip(loaded, settings):
    db, _ = loaded
    redis_ctx = ToolContext(db=db, settings=settings, cache=Cache.from_settings(settings))
    arguments = {"group_by": "product", "bought_with": "F1", "segment": "frequent"}
    first = run_tool(redis_ctx, "analyze_products", arguments)
    second = run_tool(redis_ctx, "analyze_products", arguments)  # parsed back from Redis
    assert second == first and second.rows == [] and second.bought_together  # bought_with: the pairs are the page
    listing = {"group_by": "product", "limit": 3}
    assert type(run_tool(redis_ctx, "analyze_products", listing).rows[0]).__name__ == "ProductRow"
    assert type(run_tool(redis_ctx, "analyze_products", listing).rows[0]).__name__ == "ProductRow"  # from Redis
    text = first.model_dump_json()
    for secret in pii_strings():
        assert secret not in text
    redis_ctx.cache.close()


def test_guest_orders_count_in_money_not_in_buyers(fresh_db, settings):
    from tests.analytics_fixture import load_fixture

    from analytics.product_rollup import refresh_product_rollup

    load_fixture(fresh_db)
    with fresh_db.connection() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, kind, subtotal, total) "
                    "VALUES ('GUEST1', NULL, %s, 'sale', 80, 80) RETURNING order_id", (AS_OF - timedelta(days=5),))
        order_id = cur.fetchone()[0]
        cur.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) "
                    "SELECT %s, 1, product_id, 1, 80 FROM products WHERE sku = 'K1'", (order_id,))
    refresh_product_rollup(fresh_db)   # as after an import
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    lines = _lines()
    result = run_tool(ctx, "analyze_products", {})
    kits = next(r for r in result.rows if r.category == "kits")
    expected = _expected(lines, "category").loc["kits"]
    assert kits.revenue == pytest.approx(expected["revenue"] + 80)
    assert kits.orders == expected["orders"] + 1
    assert kits.customers == expected["customers"]  # a guest is nobody's repeat purchase
    assert result.totals.orders == lines.loc[lines["kind"] == "sale", "order"].nunique() + 1
    assert result.totals.customers == 10


def test_empty_period_says_nothing_was_sold(ctx):
    result = run_tool(ctx, "analyze_products", {"period": "2023-01"})
    assert result.rows == [] and result.totals.orders == 0 and result.totals.repeat_rate is None
    assert "Nothing was sold" in result.summary


# --- The rollup (migration 008): stored answers must equal the order scan they replace -------------

WHOLE_HISTORY = "2000..2030"   # a period holding every fixture order: answered by scanning the orders


def _same_answer(stored, scanned):
    assert stored.rows == scanned.rows
    assert stored.totals == scanned.totals
    assert stored.bought_together == scanned.bought_together
    assert stored.anchor_orders == scanned.anchor_orders


ALL_HISTORY_QUESTIONS = [
    {},
    {"group_by": "product"},
    {"group_by": "product", "sort_by": "repeat_rate", "limit": 3},
    {"sort_by": "customers"},
    {"category": "Fabric"},
    {"group_by": "product", "category": "fabric", "sort_by": "orders"},
    {"segment": "frequency:frequent"},
    {"segment": "frequency:frequent", "group_by": "product", "category": "fabric"},
    {"archetype": "A-bbb222", "sort_by": "orders"},
    {"bought_with": "notions"},
    {"bought_with": "P1", "group_by": "product"},
    {"bought_with": "F1", "group_by": "product", "segment": "frequent"},
    {"bought_with": "fabric", "archetype": "A-aaa111"},
]


@pytest.mark.parametrize("arguments", ALL_HISTORY_QUESTIONS)
def test_all_history_answers_equal_the_order_scan(loaded, settings, arguments):
    db, _ = loaded
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    stored = run_tool(ctx, "analyze_products", arguments)
    scanned = run_tool(ctx, "analyze_products", {**arguments, "period": WHOLE_HISTORY})
    assert stored.period == "all history" and WHOLE_HISTORY in scanned.period
    assert scanned.totals.orders > 0
    _same_answer(stored, scanned)


def test_all_history_answers_before_the_derived_tables(fresh_db, settings):
    """The demo opens its chat once the order grains are folded; until derive_from_orders has run (a
    build, then new orders), the all-history questions read the order grains: the same answers."""
    from analytics.product_rollup import derive_from_orders, derived_current, fold_orders, rollup_version
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings, fold=False)
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    for new_order in (False, True):
        if new_order:  # S003 is frequent: their new order changes everyone's and their segment's answers
            _add_order(fresh_db, "NEW1", "S003", 2, "sale", [("K1", 1, 80.0), ("F1", 2, 12.0)])
        assert fold_orders(fresh_db) is True
        assert not derived_current(rollup_version(fresh_db))
        early = [run_tool(ctx, "analyze_products", arguments) for arguments in ALL_HISTORY_QUESTIONS]
        assert derive_from_orders(fresh_db) is True
        assert derive_from_orders(fresh_db) is False and derived_current(rollup_version(fresh_db))
        for arguments, answer in zip(ALL_HISTORY_QUESTIONS, early):
            derived = run_tool(ctx, "analyze_products", arguments)
            _same_answer(answer, derived)
            assert answer.summary == derived.summary, arguments
    assert early[0].totals.orders > 0 and any(answer.bought_together for answer in early)


def _rollup_tables(db) -> dict[str, list[tuple]]:
    with db.connection() as conn:
        return {table: conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
                for table in ("product_order_rollup", "product_customer_rollup")}


def _add_order(db, store_order_id: str, store_customer_id: str | None, days: int, kind: str,
               lines: list[tuple[str, int, float]]) -> None:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, kind) "
                    "VALUES (%s, (SELECT customer_id FROM customers WHERE store_customer_id = %s), %s, %s) "
                    "RETURNING order_id", (store_order_id, store_customer_id, AS_OF - timedelta(days=days), kind))
        order_id = cur.fetchone()[0]
        for line_no, (sku, quantity, price) in enumerate(lines, start=1):
            cur.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, kind) "
                        "SELECT %s, %s, product_id, %s, %s, %s FROM products WHERE sku = %s",
                        (order_id, line_no, quantity, price, kind, sku))


def test_new_orders_extend_the_rollup_as_a_rebuild_would(fresh_db, settings):
    from analytics.product_rollup import refresh_product_rollup
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db)
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    before = run_tool(ctx, "analyze_products", {})
    assert refresh_product_rollup(fresh_db) is False  # load_fixture built it, as an import does; nothing new since

    # S003 buys the kit (a new category for them) and a pattern; S004 returns fabric; a guest buys pins.
    _add_order(fresh_db, "NEW1", "S003", 2, "sale", [("K1", 1, 80.0), ("P1", 1, 15.0)])
    _add_order(fresh_db, "NEW2", "S004", 1, "return", [("F1", -2, 10.0)])
    _add_order(fresh_db, "NEW3", None, 1, "sale", [("N1", 3, 4.0)])
    assert refresh_product_rollup(fresh_db) is True  # as after the import
    after = run_tool(ctx, "analyze_products", {})
    assert after.totals.revenue == pytest.approx(before.totals.revenue + 80 + 15 - 20 + 12)
    assert after.totals.orders == before.totals.orders + 2  # the return is not an order
    kits = {r.category: r for r in after.rows}["kits"]
    kits_before = {r.category: r for r in before.rows}["kits"]
    assert (kits.orders, kits.customers) == (kits_before.orders + 1, kits_before.customers + 1)
    for arguments in ({}, {"group_by": "product"}, {"segment": "frequency:frequent", "group_by": "product"},
                      {"bought_with": "P1", "group_by": "product"}, {"bought_with": "notions"}):
        _same_answer(run_tool(ctx, "analyze_products", arguments),
                     run_tool(ctx, "analyze_products", {**arguments, "period": WHOLE_HISTORY}))

    extended = _rollup_tables(fresh_db)
    with fresh_db.connection() as conn:
        conn.execute("DELETE FROM product_rollup_state")  # forget it: the next refresh starts from nothing
    assert refresh_product_rollup(fresh_db) is True
    rebuilt = _rollup_tables(fresh_db)
    for table in rebuilt:
        assert len(extended[table]) == len(rebuilt[table])
        for got, want in zip(extended[table], rebuilt[table]):
            assert got == pytest.approx(want)


def test_recategorised_products_are_regrouped(fresh_db, settings):
    from analytics.product_rollup import refresh_product_rollup
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db)
    # With a cache: the cached answer from before must not be served after the change.
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=Cache(None))
    before = {r.category: r for r in run_tool(ctx, "analyze_products", {}).rows}
    with fresh_db.connection() as conn:
        conn.execute("UPDATE products SET category = 'notions' WHERE sku = 'P1'")
    assert refresh_product_rollup(fresh_db) is True  # the write side regroups them
    result = run_tool(ctx, "analyze_products", {})
    after = {r.category: r for r in result.rows}
    assert "patterns" not in after
    assert after["notions"].revenue == pytest.approx(before["notions"].revenue + before["patterns"].revenue)
    for arguments in ({}, {"segment": "frequency:frequent"}, {"bought_with": "notions"}, {"category": "notions"}):
        _same_answer(run_tool(ctx, "analyze_products", arguments),
                     run_tool(ctx, "analyze_products", {**arguments, "period": WHOLE_HISTORY}))


def test_after_discovery_run_refreshes_the_rollup(fresh_db, settings):
    from analytics.context import after_discovery_run, build_context
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    _add_order(fresh_db, "NEW1", "S003", 2, "sale", [("K1", 1, 80.0)])
    ctx = build_context(settings, fresh_db, cache=Cache(None))   # with the warm hooks, as `serve` builds it
    after_discovery_run(ctx)
    with fresh_db.connection() as conn:
        state, last = conn.execute("SELECT (SELECT last_order_id FROM product_rollup_state), "
                                   "(SELECT max(order_id) FROM orders)").fetchone()
        segments = conn.execute("SELECT last_order_id FROM product_segment_state").fetchone()[0]
    assert state == last == segments
    # The warmed answers were read from the refreshed rollup.
    assert not any("last updated" in note for note in run_tool(ctx, "analyze_products", {}).notes)


def test_after_import_refreshes_the_rollup(fresh_database_url, settings):
    from app import after_import
    from sql.database import Database
    from tests.analytics_fixture import load_fixture

    url = fresh_database_url()
    db = Database(url, migrate=False)
    try:
        load_fixture(db, fold=False)
        after_import(settings.model_copy(update={"database_url": url}))
        with db.connection() as conn:
            state, last = conn.execute("SELECT (SELECT last_order_id FROM product_rollup_state), "
                                       "(SELECT max(order_id) FROM orders)").fetchone()
        assert state == last
    finally:
        db.close()


def test_a_question_never_writes_and_says_how_current_the_figures_are(fresh_db, settings):
    """Orders imported but not folded yet (between an import and its fold, or after a failed fold): the
    answer is the rollup's, with a note saying how current it is, on a read-only connection."""
    from psycopg.conninfo import make_conninfo

    from analytics.product_rollup import refresh_product_rollup
    from sql.database import Database
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    read_only = Database(make_conninfo(fresh_db.url, options="-c default_transaction_read_only=on"), migrate=False)
    try:
        ctx = ToolContext(db=read_only, settings=settings.model_copy(update={"min_group_size": 1}), cache=Cache(None))
        before = run_tool(ctx, "analyze_products", {})
        assert not any("last updated" in note for note in before.notes)
        _add_order(fresh_db, "NEW1", "S003", 2, "sale", [("K1", 1, 80.0)])
        _add_order(fresh_db, "NEW2", None, 1, "sale", [("N1", 3, 4.0)])
        tables = _rollup_tables(fresh_db)
        for arguments in ({}, {"period": "last_quarter", "group_by": "product"}, {"segment": "frequency:frequent"},
                          {"bought_with": "notions"}):
            behind = run_tool(ctx, "analyze_products", arguments)
            note = next(note for note in behind.notes if "last updated" in note)
            assert "include orders up to " in note and "2 orders imported since are not in them yet" in note
        behind = run_tool(ctx, "analyze_products", {})
        assert behind.totals == before.totals and behind.rows == before.rows
        assert _rollup_tables(fresh_db) == tables   # nothing was folded on the question's behalf
        assert refresh_product_rollup(fresh_db) is True   # what the import does
        after = run_tool(ctx, "analyze_products", {})   # a new answer, not the cached one from before
        assert after.totals.revenue == pytest.approx(before.totals.revenue + 80 + 12)
        assert not any("last updated" in note for note in after.notes)
        with fresh_db.connection() as conn:
            conn.execute("UPDATE products SET category = 'notions' WHERE sku = 'P1'")
        regrouped = run_tool(ctx, "analyze_products", {})
        assert regrouped.rows == after.rows
        assert any("product categories changed since" in note for note in regrouped.notes)
    finally:
        read_only.close()


def test_a_rollup_never_built_is_a_clear_error(fresh_db, settings):
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings, fold=False)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=None)
    with pytest.raises(ToolError, match="not built yet"):
        run_tool(ctx, "analyze_products", {})
    with fresh_db.connection() as conn:
        assert conn.execute("SELECT count(*) FROM product_order_rollup").fetchone()[0] == 0


@pytest.mark.parametrize("arguments", [
    {"bought_with": "notions"},
    {"bought_with": "P1", "group_by": "product"},
    {"bought_with": "F1", "period": "last_90_days"},
    {"bought_with": "fabric", "period": "last_quarter", "group_by": "product"},
    {"bought_with": "F1", "group_by": "product", "segment": "frequent"},
    {"bought_with": "K1", "archetype": "A-aaa111", "period": "2024"},
])
def test_pairs_from_the_anchor_equal_the_full_fold(ctx, arguments):
    _check_pairs_against_the_fold(ctx, arguments)


def test_pairs_when_the_anchor_shares_its_category(fresh_db, settings):
    """An item's orders leave out those where its group held only the anchor: F1 and F2 are both
    fabric, so with F1 as the anchor, fabric counts only orders with F2 (or another non-anchor)."""
    from analytics.product_rollup import refresh_product_rollup
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    _add_order(fresh_db, "MIX1", "S003", 3, "sale", [("F1", 1, 10.0), ("F2", 1, 12.5), ("N1", 1, 4.0)])
    _add_order(fresh_db, "MIX2", "S004", 2, "sale", [("F1", 2, 10.0), ("N1", 1, 4.0)])
    refresh_product_rollup(fresh_db)   # as after an import
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    for arguments in ({"bought_with": "F1"}, {"bought_with": "F1", "period": "last_90_days"},
                      {"bought_with": "F1", "segment": "frequent"}, {"bought_with": "N1"}):
        pairs = _check_pairs_against_the_fold(ctx, arguments)
        if arguments == {"bought_with": "F1"}:
            fabric = next(row for row in pairs if row["group_key"] == "fabric")
            # F2 was bought in 6 orders (S005, S007 x3, S009, MIX1), once with F1; F1's own 15 don't count.
            assert (fabric["orders_together"], fabric["orders_with_item"]) == (1, 6)


def _check_pairs_against_the_fold(ctx, arguments) -> list[dict]:
    from analytics.tools.analyze_products import _anchor, _fetch, _period, _scope
    from analytics.tools.analyze_products import AnalyzeProductsInput

    run_tool(ctx, "analyze_products", arguments)
    params = AnalyzeProductsInput(**arguments)
    version = _fetch(ctx, "products.data_version", {})[0]
    start, end = _period(ctx, params.period, version["latest_order_at"]).bounds()
    scope, _, _ = _scope(ctx, params)
    anchor, _ = _anchor(ctx, params.bought_with)
    query_params = {**scope, **anchor, "start": start, "end": end, "group_by": params.group_by, "limit": 100}
    reference = bought_together(ctx, query_params)
    assert reference  # every case above has pairs
    for count_rows in (False, True):  # from the stored counts, and from the rows (derived tables not built)
        assert _fetch(ctx, "products.bought_together_from_anchor", {**query_params, "count_rows": count_rows}) \
            == reference
    return reference


# --- Stored standard periods (STORED_PERIODS): the stored answer must equal the rollup scan ---------

@pytest.mark.parametrize("arguments", [
    {"period": "last_quarter"},
    {"period": "last_90_days", "group_by": "product"},
    {"period": "this_year", "category": "Fabric"},
    {"period": "this_year", "group_by": "product", "sort_by": "repeat_rate", "limit": 3},
    {"period": "last_year", "sort_by": "customers"},
    {"period": "last_12_months", "group_by": "product", "category": "fabric", "sort_by": "orders"},
    {"period": "q2", "sort_by": "repeat_rate"},
    {"period": "last_month", "group_by": "product"},
])
def test_stored_period_answers_equal_the_scan(loaded, settings, arguments):
    from analytics.tools.analyze_products import _fetch, _period
    from analytics.tools.analyze_products import AnalyzeProductsInput

    db, _ = loaded
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    stored = run_tool(ctx, "analyze_products", arguments)   # the fixture's fold stored the periods
    params = AnalyzeProductsInput(**arguments)
    version = _fetch(ctx, "products.data_version", {})[0]
    start, end = _period(ctx, params.period, version["latest_order_at"]).bounds()
    probe = {"group_by": params.group_by, "start": start, "end": end}
    assert _fetch(ctx, "products.facts_has_period", probe)[0]["stored"]   # the stored path answered
    assert stored.totals.orders > 0
    with db.connection() as conn:  # forget the stored periods: the same question now scans the rollup
        saved = conn.execute("SELECT count(*) FROM product_group_facts WHERE period_start <> '-infinity'").fetchone()[0]
        conn.execute("DELETE FROM product_group_facts WHERE period_start <> '-infinity'")
    try:
        assert not _fetch(ctx, "products.facts_has_period", probe)[0]["stored"]
        scanned = run_tool(ctx, "analyze_products", arguments)
        _same_answer(stored, scanned)
        assert stored.summary == scanned.summary and stored.period == scanned.period
    finally:
        from analytics.product_rollup import refresh_product_rollup
        with db.connection() as conn:
            conn.execute("DELETE FROM product_rollup_state")  # forget it: the refresh rebuilds them
        refresh_product_rollup(db)
        with db.connection() as conn:
            assert conn.execute("SELECT count(*) FROM product_group_facts "
                                "WHERE period_start <> '-infinity'").fetchone()[0] == saved


def _stored_equal_scans(db, ctx) -> int:
    """Every stored period by both groupings equals the scan of the rollup; how many were compared."""
    from analytics.product_rollup import STORED_PERIODS, refresh_product_rollup

    questions = [{"period": phrase, "group_by": group_by} for phrase in STORED_PERIODS
                 for group_by in ("category", "product")]
    stored = [run_tool(ctx, "analyze_products", arguments) for arguments in questions]
    with db.connection() as conn:
        conn.execute("DELETE FROM product_group_facts WHERE period_start <> '-infinity'")
    for arguments, answer in zip(questions, stored):
        _same_answer(answer, run_tool(ctx, "analyze_products", arguments))
    with db.connection() as conn:
        conn.execute("DELETE FROM product_rollup_state")  # forget it: the refresh rebuilds them all
    assert refresh_product_rollup(db) is True
    return len(questions)


def test_stored_periods_follow_new_orders(fresh_db, settings):
    """New orders move the latest order's day (the stored periods are those measured from it) or land
    in an earlier period (whose stored answer must be recomputed, not kept): the stored answers still
    equal the scan, period by period."""
    from analytics.product_rollup import refresh_product_rollup
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db)
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    before = run_tool(ctx, "analyze_products", {"period": "last_30_days"})
    _add_order(fresh_db, "NEW1", "S003", 2, "sale", [("K1", 1, 80.0)])   # 8 days after the latest order
    assert refresh_product_rollup(fresh_db) is True   # as after the import
    after = run_tool(ctx, "analyze_products", {"period": "last_30_days"})
    assert before.period != after.period
    last_year = run_tool(ctx, "analyze_products", {"period": "last_year"})
    # A late import of an old order (in last year, which the refresh above kept as it was).
    _add_order(fresh_db, "OLD1", "S006", 400, "sale", [("P1", 2, 15.0)])
    assert refresh_product_rollup(fresh_db) is True
    late = run_tool(ctx, "analyze_products", {"period": "last_year"})
    assert late.totals.revenue == pytest.approx(last_year.totals.revenue + 30)
    assert late.totals.customers == last_year.totals.customers + 1
    assert _stored_equal_scans(fresh_db, ctx) == 26


# --- Stored sums per segment / archetype (product_segment_facts): equal to the members' scan --------

@pytest.mark.parametrize("arguments", [
    {"segment": "frequency:frequent"},
    {"segment": "frequent", "group_by": "product", "sort_by": "repeat_rate"},
    {"segment": "frequency:frequent", "group_by": "product", "category": "fabric"},
    {"archetype": "A-bbb222", "sort_by": "orders"},
    {"archetype": "Steady regulars", "group_by": "product", "category": "Fabric"},
    {"archetype": "A-aaa111", "category": "kits", "sort_by": "customers"},
])
def test_segment_facts_equal_the_members_scan(loaded, settings, arguments):
    from analytics.product_rollup import refresh_product_rollup, refresh_segment_facts
    from analytics.tools.analyze_products import _fetch

    db, _ = loaded
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    refresh_product_rollup(db)   # as after an import: the rollup, then the sums per scope
    refresh_segment_facts(db)    # as after_discovery_run (a no-op when the line above built them)
    stored = run_tool(ctx, "analyze_products", arguments)
    state = _fetch(ctx, "products.segment_state", {})[0]
    assert state["run_id"] is not None and state["last_order_id"] == state["rollup_order_id"]
    assert stored.totals.orders > 0
    with db.connection() as conn:  # as after a new discovery run: the sums are stale, questions scan
        conn.execute("UPDATE product_segment_state SET run_id = -1")
    try:
        scanned = run_tool(ctx, "analyze_products", arguments)
        _same_answer(stored, scanned)
        assert stored.summary == scanned.summary
        scanned_period = run_tool(ctx, "analyze_products", {**arguments, "period": WHOLE_HISTORY})
        _same_answer(stored, scanned_period)
    finally:
        assert refresh_segment_facts(db) is True   # what after_discovery_run does after a run
        assert refresh_segment_facts(db) is False  # and only once


def test_segment_facts_follow_new_orders(fresh_db, settings):
    from analytics.product_rollup import refresh_product_rollup
    from analytics.tools.analyze_products import _fetch
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings, fold=False)
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    assert refresh_product_rollup(fresh_db) is True
    before = run_tool(ctx, "analyze_products", {"segment": "frequency:frequent"})
    _add_order(fresh_db, "NEW1", "S003", 2, "sale", [("K1", 1, 80.0)])   # S003 is frequent
    # A question before the import hook ran reads the rollup as it is and writes nothing.
    behind = run_tool(ctx, "analyze_products", {"segment": "frequency:frequent"})
    assert behind.totals == before.totals and behind.rows == before.rows
    state = _fetch(ctx, "products.segment_state", {})[0]
    assert state["last_order_id"] == state["rollup_order_id"]
    assert state["rollup_order_id"] < _fetch(ctx, "products.data_version", {})[0]["last_order_id"]
    assert refresh_product_rollup(fresh_db) is True   # as after_import: the rollup, then the sums per scope
    state = _fetch(ctx, "products.segment_state", {})[0]
    assert state["last_order_id"] == state["rollup_order_id"]   # the sums per scope caught up
    after = run_tool(ctx, "analyze_products", {"segment": "frequency:frequent"})
    assert after.totals.revenue == pytest.approx(before.totals.revenue + 80)
    _same_answer(after, run_tool(ctx, "analyze_products", {"segment": "frequency:frequent",
                                                           "period": WHOLE_HISTORY}))


# --- Stored pairs of each category (product_pair_facts): equal to the full fold -------------------

def _check_category_pairs(ctx) -> int:
    """For every category as the anchor, by category and by product: the stored pairs equal the fold
    of every order (products.bought_together); how many anchors had pairs."""
    from analytics.product_rollup import refresh_product_rollup
    from analytics.tools.analyze_products import _fetch

    refresh_product_rollup(ctx.db)   # as after an import: the rollup and the stored pairs up to date
    with_pairs = 0
    for category in known_categories(ctx):
        for group_by in ("category", "product"):
            query_params = {"run_id": None, "segment": None, "archetype_id": None, "start": None, "end": None,
                            "anchor_ids": [], "anchor_category": category.upper(), "group_by": group_by,
                            "limit": 100}
            reference = bought_together(ctx, query_params)
            assert _fetch(ctx, "products.bought_together_category_facts", query_params) == reference
            with_pairs += bool(reference)
    return with_pairs


def test_stored_category_pairs_equal_the_full_fold(fresh_db, settings):
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    assert _check_category_pairs(ctx) >= 6   # fabric, notions, patterns (and kits) by both groupings
    # New orders (a guest's too, and a return) extend the stored pairs as a fold would count them.
    _add_order(fresh_db, "MIX1", "S003", 3, "sale", [("F1", 1, 10.0), ("F2", 1, 12.5), ("N1", 1, 4.0)])
    _add_order(fresh_db, "MIX2", None, 2, "sale", [("K1", 1, 80.0), ("N1", 2, 4.0)])
    _add_order(fresh_db, "RET1", "S004", 1, "return", [("F1", -1, 10.0)])
    assert _check_category_pairs(ctx) >= 6
    result = run_tool(ctx, "analyze_products", {"bought_with": "Kits"})
    assert result.anchor_orders == 11 and result.bought_together[0].item == "notions"
    # Orders grouped by the set of categories they hold: a line without a product, a product without a
    # category, and a category that differs from another only in case are each their own member of a set.
    with fresh_db.connection() as conn:
        conn.execute("INSERT INTO products (sku, title, category, unit_price) VALUES "
                     "('X1', 'Mystery box', NULL, 9), ('F9', 'Odd fabric', 'FABRIC', 7)")
    _add_order(fresh_db, "ODD1", "S003", 1, "sale", [("X1", 1, 9.0), ("F9", 1, 7.0), ("F1", 1, 10.0)])
    _add_order(fresh_db, "ODD2", "S005", 1, "sale", [("F9", 2, 7.0), ("N1", 1, 4.0)])
    with fresh_db.connection() as conn:
        order_id = conn.execute("SELECT order_id FROM orders WHERE store_order_id = 'ODD2'").fetchone()[0]
        conn.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price) "
                     "VALUES (%s, 9, NULL, 1, 3)", (order_id,))
    assert _check_category_pairs(ctx) >= 6
    with fresh_db.connection() as conn:   # and the same counts from nothing
        conn.execute("DELETE FROM product_rollup_state")
    assert _check_category_pairs(ctx) >= 6


@pytest.mark.parametrize("arguments", [
    {"segment": "frequency:frequent", "period": "last_90_days"},
    {"segment": "frequent", "period": "last_quarter", "group_by": "product", "sort_by": "repeat_rate"},
    {"archetype": "A-bbb222", "period": "this_quarter", "group_by": "product", "category": "fabric"},
    {"archetype": "Steady regulars", "period": "last_month", "sort_by": "customers"},
    {"segment": "frequency:frequent", "period": "q2", "category": "Fabric"},
])
def test_segment_period_facts_equal_the_scan(loaded, settings, arguments):
    from analytics.product_rollup import refresh_product_rollup, refresh_segment_facts, scope_period_bounds
    from analytics.tools.analyze_products import AnalyzeProductsInput, _fetch, _period

    db, _ = loaded
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    refresh_product_rollup(db)
    refresh_segment_facts(db)
    assert _fetch(ctx, "products.segment_state", {})[0]["run_id"] is not None
    stored = run_tool(ctx, "analyze_products", arguments)
    version = _fetch(ctx, "products.data_version", {})[0]
    bounds = _period(ctx, AnalyzeProductsInput(**arguments).period, version["latest_order_at"]).bounds()
    assert bounds in scope_period_bounds(version["latest_order_at"])   # the stored path answered
    with db.connection() as conn:
        stored_rows = conn.execute("SELECT count(*) FROM product_segment_facts WHERE period_start = %s "
                                   "AND period_end = %s", bounds).fetchone()[0]
        assert stored_rows > 0
        conn.execute("UPDATE product_segment_state SET run_id = -1")   # stale: the same question scans
    try:
        assert stored.totals.orders > 0
        _same_answer(stored, run_tool(ctx, "analyze_products", arguments))
    finally:
        assert refresh_segment_facts(db) is True


def test_segment_facts_with_more_scopes_than_slots(fresh_db, settings):
    """The sums per scope are folded nine scopes (slots) at a time; a run whose customers have more
    scopes (axes sorted before theirs push frequency and value to the 11th and 12th) sums the rest row by
    row, to the same answers as the members' scan."""
    from analytics.product_rollup import refresh_segment_facts
    from analytics.tools.analyze_products import _fetch
    from tests.analytics_fixture import load_fixture

    load_fixture(fresh_db, settings)
    with fresh_db.connection() as conn:
        conn.execute("UPDATE customer_profiles SET dominant_segments = dominant_segments || "
                     "(SELECT jsonb_object_agg('a' || n, 'x') FROM generate_series(0, 9) n) "
                     "WHERE run_id = (SELECT run_id FROM discovery_runs WHERE is_current)")
        conn.execute("DELETE FROM product_segment_state")
    assert refresh_segment_facts(fresh_db) is True
    ctx = ToolContext(db=fresh_db, settings=settings.model_copy(update={"min_group_size": 1}), cache=None)
    for arguments in ({"segment": "frequency:frequent"}, {"segment": "value:big spenders", "group_by": "product"},
                      {"archetype": "A-bbb222", "sort_by": "orders"},
                      {"segment": "frequency:frequent", "period": "last_90_days"}):
        stored = run_tool(ctx, "analyze_products", arguments)
        assert _fetch(ctx, "products.segment_state", {})[0]["run_id"] is not None
        with fresh_db.connection() as conn:
            run_id = conn.execute("SELECT run_id FROM product_segment_state").fetchone()[0]
            conn.execute("UPDATE product_segment_state SET run_id = -1")   # stale: the same question scans
        try:
            assert stored.totals.orders > 0
            _same_answer(stored, run_tool(ctx, "analyze_products", arguments))
        finally:
            with fresh_db.connection() as conn:
                conn.execute("UPDATE product_segment_state SET run_id = %s", (run_id,))
