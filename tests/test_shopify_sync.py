"""`python app.py sync shopify` against a loopback fake of the Admin GraphQL endpoint: pages,
the updated_at filter, throttling (THROTTLED and a 429), an order edited between syncs, refunds as
returns, a cancellation, a guest order, and a second sync that changes nothing. Expected rows are
computed here from the fake's data, not by the mapping code."""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from decimal import ROUND_FLOOR, Decimal

import pytest
from pydantic import SecretStr

from settings import load_settings
from sql import Database
from tests.fake_shopify import FakeShopify
from wiring.shopify import sync_shopify

TOKEN = "shpat_test_token"


def shop_settings(url: str, fake: FakeShopify, tmp_path, **extra):
    return load_settings(database_url=url, data_dir=tmp_path, pseudonym_secret="test-pseudonym-secret",
                         shopify_shop="test-store", shopify_access_token=TOKEN, shopify_api_url=fake.url,
                         shopify_overlap_seconds=30, _env_file=None, **extra)


@pytest.fixture
def fake():
    with FakeShopify(TOKEN) as fake:
        yield fake


@pytest.fixture
def store(fresh_database_url, fake, tmp_path):
    url = fresh_database_url()
    db = Database(url)
    yield db, shop_settings(url, fake, tmp_path, shopify_page_size=3)
    db.close()


ALICE = {"id": 7001, "email": "alice@example.com", "phone": "+1 555 0100", "first_name": "Alice", "last_name": "Ng"}
BOB = {"id": 7002, "email": "bob@example.com", "phone": None, "first_name": "Bob", "last_name": "Stone"}


def line(sku, quantity, price, discount=0, product_type="Fabric"):
    return {"sku": sku, "title": f"Product {sku}", "product_type": product_type, "quantity": quantity,
            "price": price, "discount": discount}


def gid(node) -> str:
    return node["id"].rsplit("/", 1)[1]


def cents(value) -> Decimal:
    return Decimal(str(value)).quantize(Decimal("0.01"))


def expected_sale(node) -> dict:
    """What the store should hold for a sale order, from the fake's own GraphQL node."""
    lines = []
    for item in node["lineItems"]["nodes"]:
        price = cents(item["originalUnitPriceSet"]["shopMoney"]["amount"])
        discount = sum((cents(a["allocatedAmountSet"]["shopMoney"]["amount"]) for a in item["discountAllocations"]),
                       Decimal(0))
        lines.append((item["sku"], item["quantity"], price, discount))
    total = sum(q * p - d for _, q, p, d in lines)
    customer = node["customer"]["id"].rsplit("/", 1)[1] if node["customer"] else None
    return {"kind": "sale", "customer": customer, "ordered_at": node["createdAt"], "total": total,
            "lines": sorted(lines)}


def stored_order(db, key: str) -> dict | None:
    with db.cursor() as cur:
        cur.execute("""SELECT o.order_id, o.kind, o.total, o.ordered_at, c.store_customer_id
                       FROM orders o LEFT JOIN customers c USING (customer_id) WHERE o.store_order_id = %s""", (key,))
        row = cur.fetchone()
        if row is None:
            return None
        cur.execute("""SELECT p.sku, l.quantity, l.unit_price, l.discount FROM order_lines l
                       JOIN products p USING (product_id) WHERE l.order_id = %s""", (row["order_id"],))
        lines = sorted((r["sku"], r["quantity"], r["unit_price"], r["discount"]) for r in cur.fetchall())
    return {"kind": row["kind"], "customer": row["store_customer_id"],
            "ordered_at": row["ordered_at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "total": row["total"], "lines": lines}


def table_checksum(db) -> dict:
    """Row counts and an md5 of every store table's content (ids included), to prove a no-op."""
    out = {}
    with db.cursor() as cur:
        for table, order in (("customers", "customer_id"), ("products", "product_id"), ("orders", "order_id"),
                             ("order_lines", "order_id, line_no")):
            cur.execute(f"SELECT count(*) AS n, md5(coalesce(string_agg((t.*)::text, '|' ORDER BY {order}), '')) "
                        f"AS sum FROM {table} t")
            row = cur.fetchone()
            out[table] = (row["n"], row["sum"])
    return out


def test_first_sync_pages_through_every_order_and_stores_them_as_shopify_has_them(store, fake):
    db, settings = store
    orders = [fake.add_order([line("FAB-1", 2, "12.50", "2.00"), line("PAT-9", 1, "8.00", product_type="Patterns")],
                             customer=ALICE, discount_code="WELCOME", country="GB"),
              fake.add_order([line("FAB-2", 3, "4.99")], customer=BOB),
              fake.add_order([line("FAB-1", 1, "12.50")], customer=ALICE),
              fake.add_order([line(None, 1, "25.00", product_type="Gift cards")], customer=None),   # guest, no SKU
              fake.add_order([line("FAB-3", 4, "3.10", "1.00")], customer=BOB),
              fake.add_order([line("FAB-2", 1, "4.99")], customer=ALICE),
              fake.add_order([line("FAB-9", 5, "2.00")], customer=BOB)]
    pages = []
    summary = sync_shopify(settings, db, on_page=lambda page, s: pages.append(page))

    assert pages == [1, 2, 3] and summary.pages == 3                     # 7 orders, 3 a page
    assert [r["variables"]["after"] is None for r in fake.requests] == [True, False, False]
    assert all(r["variables"]["query"] is None for r in fake.requests)   # first sync: everything
    assert summary.orders_fetched == 7 and summary.inserted == 7 and summary.updated == 0
    for node in orders:
        expected = expected_sale(node)
        if expected["lines"][0][0] is None:  # no SKU: keyed by title, as the export import does
            expected["lines"] = [("title:Product None", *rest[1:]) for rest in expected["lines"]]
        assert stored_order(db, gid(node)) == expected
    with db.cursor() as cur:
        cur.execute("SELECT store_customer_id, email, phone, name, public_id FROM customers ORDER BY 1")
        customers = cur.fetchall()
        cur.execute("SELECT sku, category FROM products ORDER BY sku")
        categories = {r["sku"]: r["category"] for r in cur.fetchall()}
        cur.execute("SELECT discount_code, country FROM orders WHERE store_order_id = %s", (gid(orders[0]),))
        code, country = cur.fetchone().values()
        cur.execute("SELECT country FROM customers WHERE store_customer_id = '7001'")
        customer_country = cur.fetchone()["country"]
    assert [(c["store_customer_id"], c["email"], c["phone"], c["name"]) for c in customers] == [
        ("7001", "alice@example.com", "+1 555 0100", "Alice Ng"), ("7002", "bob@example.com", None, "Bob Stone")]
    assert all(c["public_id"].startswith("C-") for c in customers)       # pseudonymised after the sync
    assert categories["PAT-9"] == "Patterns" and categories["FAB-1"] == "Fabric"
    assert categories["title:Product None"] == "Gift cards"
    assert code == "WELCOME" and country == customer_country == "GB"   # the country code, no more of the address
    assert stored_order(db, gid(orders[3]))["customer"] is None          # the guest order: no customer


def test_a_second_sync_asks_only_for_recent_updates_and_changes_nothing(store, fake):
    db, settings = store
    for n in range(5):
        fake.add_order([line(f"SKU-{n}", n + 1, "10.00", "0.50")], customer=ALICE if n % 2 else BOB)
    sync_shopify(settings, db)
    before = table_checksum(db)
    fake.requests.clear()
    again = sync_shopify(settings, db)
    assert table_checksum(db) == before
    assert again.inserted == again.updated == again.returns == 0
    asked = fake.requests[0]["variables"]["query"]
    with db.cursor() as cur:
        cur.execute("SELECT updated_through FROM shopify_sync_state")
        mark = cur.fetchone()["updated_through"]
    newest = max(node["updatedAt"] for node in fake.orders.values())
    assert mark.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") == newest
    # the mark less the 30 s overlap, in Shopify's search syntax
    since = datetime.fromisoformat(asked.split("'")[1].replace("Z", "+00:00"))
    assert asked.startswith("updated_at:>='") and (mark - since).total_seconds() == 30
    assert again.orders_fetched == 1      # only what changed within the overlap, not the whole store


def test_an_order_edited_between_two_syncs_is_updated_not_duplicated(store, fake):
    db, settings = store
    edited = fake.add_order([line("FAB-1", 2, "12.50", "1.00"), line("FAB-2", 1, "4.00")], customer=ALICE)
    for n in range(4):
        fake.add_order([line("FAB-3", 1, "3.00")], customer=BOB)
    sync_shopify(settings, db)
    with db.cursor() as cur:
        cur.execute("SELECT order_id FROM orders WHERE store_order_id = %s", (gid(edited),))
        order_id = cur.fetchone()["order_id"]
        cur.execute("SELECT count(*) AS n FROM orders")
        orders_before = cur.fetchone()["n"]
    fake.tick(3600)
    fake.edit_order(edited, set_quantity={0: 5}, add_lines=[line("PAT-1", 1, "9.00", product_type="Patterns")])
    summary = sync_shopify(settings, db)
    assert summary.updated == 1 and summary.inserted == 0
    assert stored_order(db, gid(edited)) == expected_sale(edited)
    with db.cursor() as cur:
        cur.execute("SELECT order_id FROM orders WHERE store_order_id = %s", (gid(edited),))
        assert cur.fetchone()["order_id"] == order_id                   # the same row, rewritten
        cur.execute("SELECT count(*) AS n FROM orders")
        assert cur.fetchone()["n"] == orders_before
        # the product rollup (folded by new order ids) was built again: it holds the edited quantities
        cur.execute("""SELECT p.sku, r.units, r.amount FROM product_order_rollup r JOIN products p USING (product_id)
                       WHERE r.order_id = %s ORDER BY p.sku""", (order_id,))
        assert [(r["sku"], r["units"], r["amount"]) for r in cur.fetchall()] == [
            ("FAB-1", 5, 5 * 12.50 - 1.00), ("FAB-2", 1, 4.00), ("PAT-1", 1, 9.00)]


def returned(quantity: int, subtotal: str) -> tuple[int, Decimal, Decimal]:
    """A return line of `quantity` units refunded `subtotal` in all: value exactly −subtotal."""
    amount = Decimal(subtotal)
    unit = (amount / quantity).quantize(Decimal("0.01"), rounding=ROUND_FLOOR)
    return -quantity, unit, amount - unit * quantity


def test_a_refund_becomes_a_return_dated_when_refunded_and_a_cancellation_returns_the_rest(store, fake):
    db, settings = store
    refunded = fake.add_order([line("FAB-1", 3, "10.00", "3.00"), line("FAB-2", 1, "5.00")], customer=ALICE)
    cancelled = fake.add_order([line("FAB-3", 2, "7.00"), line("FAB-4", 1, "1.00")], customer=BOB)
    sync_shopify(settings, db)
    fake.tick(86_400 * 3)
    refund = fake.refund(refunded, [(0, 2, 18.00)])                     # 2 of 3 back, net of discount
    partial = fake.refund(cancelled, [(0, 1, 7.00)])
    fake.cancel(cancelled)
    summary = sync_shopify(settings, db)
    assert summary.returns == 3 and summary.inserted == 0 and summary.updated == 0

    back = stored_order(db, f"{gid(refunded)}-R{refund['id'].rsplit('/', 1)[1]}")
    qty, unit, rest = returned(2, "18.00")
    assert back == {"kind": "return", "customer": "7001", "ordered_at": refund["createdAt"],
                    "total": Decimal("-18.00"), "lines": [("FAB-1", qty, unit, rest)]}
    assert stored_order(db, gid(refunded)) == expected_sale(refunded)   # the sale itself is untouched

    first_back = stored_order(db, f"{gid(cancelled)}-R{partial['id'].rsplit('/', 1)[1]}")
    assert first_back["total"] == Decimal("-7.00")
    cancel = stored_order(db, f"{gid(cancelled)}-C")
    # what was not refunded comes back at the cancellation: 1 x FAB-3 at 7.00 and 1 x FAB-4 at 1.00
    assert cancel == {"kind": "return", "customer": "7002", "ordered_at": cancelled["cancelledAt"],
                      "total": Decimal("-8.00"),
                      "lines": [("FAB-3", *returned(1, "7.00")), ("FAB-4", *returned(1, "1.00"))]}
    before = table_checksum(db)
    sync_shopify(settings, db, since=datetime(2026, 1, 1, tzinfo=timezone.utc))   # everything again
    assert table_checksum(db) == before


def test_throttled_and_429_answers_are_waited_out_and_the_sync_completes(store, fake):
    db, settings = store
    for n in range(7):
        fake.add_order([line(f"SKU-{n}", 1, "2.00")], customer=ALICE)
    fake.restore_rate = 300.0                                           # points a second: waits under a second
    fake.drain_bucket(to=400.0)                                         # another app spent most of the bucket
    fake.throttle_429(retry_after=0.2, times=1)
    summary = sync_shopify(settings, db)
    statuses = [r["status"] for r in fake.requests]
    assert statuses[0] == 429 and fake.throttled >= 1                   # a 429, then THROTTLED at least once
    assert summary.throttled >= 2 and summary.waited_seconds >= 0.2
    assert summary.inserted == 7
    gaps = [b["at"] - a["at"] for a, b in zip(fake.requests, fake.requests[1:])]
    assert gaps[0] >= 0.2                                               # Retry-After honoured


def test_a_bad_order_is_skipped_and_named_while_its_neighbours_load(store, fake):
    db, settings = store
    good = fake.add_order([line("FAB-1", 1, "3.00")], customer=ALICE)
    bad = fake.add_order([line("FAB-2", 1, "3.00")], customer=BOB)
    bad["lineItems"]["nodes"][0]["originalUnitPriceSet"]["shopMoney"]["amount"] = "not money"
    summary = sync_shopify(settings, db)
    assert summary.orders_skipped == 1 and summary.inserted == 1
    assert any(bad["name"] in note and "not money" in note for note in summary.notes)
    assert stored_order(db, gid(good)) is not None and stored_order(db, gid(bad)) is None


def test_the_cli_prints_a_line_per_page_and_a_json_summary(store, fake, monkeypatch, capsys):
    import app

    _, settings = store
    for n in range(4):
        fake.add_order([line(f"SKU-{n}", 1, "2.00")], customer=BOB)
    monkeypatch.setattr(app, "get_settings", lambda: settings)
    assert app.main(["sync", "shopify", "--json"]) == 0
    out, err = capsys.readouterr()
    assert err.count("page ") == 2
    summary = json.loads(out)
    assert summary["orders_fetched"] == 4 and summary["inserted"] == 4 and summary["seconds"] >= 0
    assert app.main(["sync", "shopify", "--since", "yesterday"]) == 2
    monkeypatch.setattr(app, "get_settings", lambda: settings.model_copy(update={"shopify_access_token": None}))
    capsys.readouterr()
    assert app.main(["sync", "shopify"]) == 2
    assert "SHOPIFY_ACCESS_TOKEN" in capsys.readouterr().err
    refused = settings.model_copy(update={"shopify_access_token": SecretStr("shpat_not_this_one_42")})
    monkeypatch.setattr(app, "get_settings", lambda: refused)
    assert app.main(["sync", "shopify"]) == 2
    err = capsys.readouterr().err
    assert "refused the access token" in err and "shpat_not_this_one_42" not in err      # the token is never echoed


def test_a_sync_cut_off_by_shopify_keeps_what_it_stored_and_the_next_one_resumes(store, fake, monkeypatch):
    import shopify.sync
    from shopify.client import ShopifyAPIError

    db, settings = store
    monkeypatch.setattr(shopify.sync, "LOAD_BATCH_ORDERS", 3)      # a transaction per page of 3
    nodes = [fake.add_order([line(f"SKU-{n}", 1, "2.00")], customer=ALICE) for n in range(8)]
    fake.fail_after(2, status=500, times=10)                         # pages 1-2, then Shopify is down
    with pytest.raises(ShopifyAPIError, match="HTTP 500"):
        sync_shopify(settings.model_copy(update={"shopify_max_retries": 1}), db)
    stored = [stored_order(db, gid(node)) is not None for node in nodes]
    assert stored == [True] * 6 + [False] * 2
    with db.cursor() as cur:
        cur.execute("SELECT updated_through, last_synced_at FROM shopify_sync_state")
        state = cur.fetchone()
        cur.execute("SELECT count(*) AS n FROM customers WHERE public_id IS NULL")
        assert cur.fetchone()["n"] == 0                              # what was stored got its pseudonym
    assert state["last_synced_at"] is None                           # not a finished sync
    assert state["updated_through"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") == nodes[5]["updatedAt"]
    fake.script.clear()
    fake.requests.clear()
    summary = sync_shopify(settings, db)
    assert summary.inserted == 2 and all(stored_order(db, gid(node)) for node in nodes)
    assert fake.requests[0]["variables"]["query"] is not None        # resumed from the mark, not from scratch


@pytest.mark.parametrize("given, stored", [("my-store", "my-store.myshopify.com"),
                                           ("My-Store.myshopify.com", "my-store.myshopify.com"),
                                           ("https://my-store.myshopify.com/", "my-store.myshopify.com")])
def test_the_shop_setting_is_normalised(given, stored):
    assert load_settings(shopify_shop=given, _env_file=None).shopify_shop == stored


@pytest.mark.parametrize("given", ["my store", "evil.com/x", "-store", "shop_name"])
def test_a_shop_that_is_not_a_shop_name_stops_start_up_naming_the_variable(given):
    from settings import SettingsError

    with pytest.raises(SettingsError, match="SHOPIFY_SHOP"):
        load_settings(shopify_shop=given, _env_file=None)


def test_serve_syncs_on_its_schedule_and_readiness_shows_the_sync_age(store, fake):
    from starlette.testclient import TestClient

    from analytics.cache import Cache
    from analytics.core import ToolContext
    from wiring.shopify import ShopifyIntegration
    from wiring.web import build_web_app

    db, settings = store
    node = fake.add_order([line("FAB-1", 1, "3.00")], customer=ALICE)
    ctx = ToolContext(db=db, settings=settings, cache=Cache(None))
    with TestClient(build_web_app(settings, db, ctx=ctx, background=False)) as client:
        assert client.get("/health/ready").json()["shopify_sync_age_seconds"] is None   # never synced
        integration = ShopifyIntegration(settings, db)
        integration.start()                       # the first scheduled run starts at once
        try:
            deadline = time.monotonic() + 30
            while (age := client.get("/health/ready").json()["shopify_sync_age_seconds"]) is None \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            integration.stop()
        assert stored_order(db, gid(node)) == expected_sale(node)
        assert age is not None and 0 <= age < 30


def test_a_second_sync_while_one_runs_skips_its_turn(store, fake):
    import psycopg

    db, settings = store
    fake.add_order([line("FAB-1", 1, "3.00")], customer=ALICE)
    with psycopg.connect(settings.database_url) as other, other.transaction():
        other.execute("SELECT pg_advisory_xact_lock(727014)")        # a sync in another instance
        summary = sync_shopify(settings, db)
    assert summary.busy and summary.orders_fetched == 0 and fake.requests == []
    assert sync_shopify(settings, db).inserted == 1                   # once it is done, the next one runs


def test_an_order_with_more_lines_and_refunds_than_a_page_carries_is_completed(store, fake):
    db, settings = store
    many = [line(f"SKU-{n:02d}", 1 + n % 3, f"{2 + n}.00", "0.50" if n % 4 == 0 else 0) for n in range(45)]
    big = fake.add_order(many, customer=BOB)
    small = fake.add_order([line("FAB-1", 1, "3.00")], customer=ALICE)
    refunds = [fake.refund(big, [(n, 1, 1.00)]) for n in range(3)]
    refunds.append(fake.refund(big, [(n, 1, 2.50) for n in range(10, 17)]))      # 4 refunds, one of 7 lines
    summary = sync_shopify(settings, db)
    operations = [r["operation"] for r in fake.requests]
    assert {"OrderLines", "OrderRefunds", "RefundLines"} <= set(operations)
    assert summary.inserted == 2 and summary.returns == 4
    assert stored_order(db, gid(big)) == expected_sale(big)              # all 45 lines
    assert stored_order(db, gid(small)) == expected_sale(small)
    last = stored_order(db, f"{gid(big)}-R{refunds[3]['id'].rsplit('/', 1)[1]}")
    assert len(last["lines"]) == 7 and last["total"] == Decimal("-17.50")


def test_pages_shrink_when_shopify_says_a_query_costs_too_much(store, fake, monkeypatch):
    import shopify.client

    db, settings = store
    monkeypatch.setattr(shopify.client, "LARGEST_PAGE", 250)            # as if the cost estimate were wrong
    for n in range(12):
        fake.add_order([line(f"SKU-{n}", 1, "2.00")], customer=ALICE)
    summary = sync_shopify(settings.model_copy(update={"shopify_page_size": 10}), db)
    firsts = [r["variables"]["first"] for r in fake.requests]
    assert firsts[:3] == [10, 5, 2]                                     # 2,152 and 1,077 points refused; 432 fits
    assert summary.inserted == 12
