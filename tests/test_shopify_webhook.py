"""POST /shopify/webhook in the serve app: HMAC checked on the raw body before anything else,
deduplicated on X-Shopify-Webhook-Id, stored, then applied once through the import path; and the
customer card shows an order that arrived after the discovery run at once."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from analytics.cache import Cache
from analytics.core import ToolContext
from analytics.tools.lookup_customer import LookupCustomerInput, lookup_customer
from analytics.tools.registry import run_tool
from gorgias.facts import customer_facts, customer_facts_many
from settings import load_settings
from sql import Database
from tests.analytics_fixture import load_fixture
from tests.fake_shopify import FakeShopify
from wiring.web import build_web_app

SECRET = "shopify-app-client-secret"


def sign(body: bytes, secret: str = SECRET) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def headers(body: bytes, topic: str, webhook_id: str, signature: str | None = "sign") -> dict:
    out = {"Content-Type": "application/json", "X-Shopify-Topic": topic, "X-Shopify-Webhook-Id": webhook_id,
           "X-Shopify-Shop-Domain": "test-store.myshopify.com"}
    if signature == "sign":
        out["X-Shopify-Hmac-Sha256"] = sign(body)
    elif signature is not None:
        out["X-Shopify-Hmac-Sha256"] = signature
    return out


@pytest.fixture
def served(fresh_database_url, tmp_path):
    """The serve app on a fresh database holding the fixture store and its runs; the fixture's
    customer S001 is renamed to Shopify customer 7001 so a webhook order reaches a scored customer."""
    url = fresh_database_url()
    db = Database(url)
    cfg = load_settings(database_url=url, data_dir=tmp_path, pseudonym_secret="test-pseudonym-secret",
                        shopify_webhook_secret=SECRET, _env_file=None)
    fixture = load_fixture(db, cfg)
    with db.cursor() as cur:
        cur.execute("UPDATE customers SET store_customer_id = '7001' WHERE store_customer_id = 'S001'")
    ctx = ToolContext(db=db, settings=cfg.model_copy(update={"min_group_size": 1}), cache=Cache(None))
    app = build_web_app(cfg, db, ctx=ctx, scheduler=False)
    with TestClient(app) as client:
        yield client, db, ctx, fixture
    db.close()


def an_order(fake: FakeShopify, quantity: int = 1) -> dict:
    node = fake.add_order([{"sku": "K1", "title": "Deluxe quilt kit", "quantity": quantity, "price": "80.00",
                            "discount": "5.00"}],
                          customer={"id": 7001, "email": "margaret.whitfield@example.com", "phone": None,
                                    "first_name": "Margaret", "last_name": "Whitfield"},
                          created_at=datetime(2024, 7, 5, 10, 0, tzinfo=timezone.utc))
    return fake.rest_order(node)


def counts(db) -> dict:
    with db.cursor() as cur:
        cur.execute("SELECT (SELECT count(*) FROM shopify_webhooks) AS webhooks,"
                    " (SELECT count(*) FROM orders) AS orders,"
                    " (SELECT coalesce(sum(deliveries), 0) FROM shopify_webhooks) AS deliveries")
        return cur.fetchone()


def wait_applied(db, webhook_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.cursor() as cur:
            cur.execute("SELECT applied_at, attempts, last_error FROM shopify_webhooks WHERE webhook_id = %s",
                        (webhook_id,))
            row = cur.fetchone()
        if row and (row["applied_at"] or row["last_error"]):
            return row
        time.sleep(0.05)
    raise AssertionError(f"webhook {webhook_id} was not applied within {timeout} s")


def test_a_signed_order_is_stored_applied_once_and_a_redelivery_is_ignored(served):
    client, db, _, _ = served
    fake = FakeShopify()
    payload = an_order(fake, quantity=2)
    body = json.dumps(payload).encode()
    before = counts(db)
    answer = client.post("/shopify/webhook", content=body, headers=headers(body, "orders/create", "wh-1"))
    assert answer.status_code == 200 and answer.json()["status"] == "stored"
    row = wait_applied(db, "wh-1")
    assert row["applied_at"] is not None and row["attempts"] == 1 and row["last_error"] is None
    with db.cursor() as cur:
        cur.execute("""SELECT o.total, o.kind, c.store_customer_id, o.ordered_at FROM orders o
                       JOIN customers c USING (customer_id) WHERE o.store_order_id = %s""", (str(payload["id"]),))
        order = cur.fetchone()
    # 2 x 80.00 less the 5.00 allocated to the line, for customer 7001, when Shopify created it
    assert order == {"total": Decimal("155.00"), "kind": "sale", "store_customer_id": "7001",
                     "ordered_at": datetime(2024, 7, 5, 10, 0, tzinfo=timezone.utc)}
    again = client.post("/shopify/webhook", content=body, headers=headers(body, "orders/create", "wh-1"))
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    time.sleep(0.3)
    after = counts(db)
    assert after["webhooks"] == before["webhooks"] + 1 and after["orders"] == before["orders"] + 1
    assert after["deliveries"] == before["deliveries"] + 2
    with db.cursor() as cur:
        cur.execute("SELECT attempts FROM shopify_webhooks WHERE webhook_id = 'wh-1'")
        assert cur.fetchone()["attempts"] == 1                         # applied once


@pytest.mark.parametrize("signature", [None, "", "bm90IHRoZSByaWdodCBobWFj", "sign-with-another-secret"])
def test_a_missing_or_wrong_hmac_is_refused_and_stores_nothing(served, signature):
    client, db, _, _ = served
    body = json.dumps(an_order(FakeShopify())).encode()
    if signature == "sign-with-another-secret":
        signature = sign(body, "someone-elses-secret")
    before = counts(db)
    answer = client.post("/shopify/webhook", content=body, headers=headers(body, "orders/create", "wh-x", signature))
    assert answer.status_code == 401
    assert counts(db) == before


def test_a_body_changed_after_signing_is_refused(served):
    client, db, _, _ = served
    body = json.dumps(an_order(FakeShopify())).encode()
    signed = headers(body, "orders/create", "wh-t")
    tampered = body.replace(b'"80.00"', b'"0.01"')
    assert tampered != body
    before = counts(db)
    assert client.post("/shopify/webhook", content=tampered, headers=signed).status_code == 401
    assert counts(db) == before


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2, 3]", b"\xff\xfe garbage"])
def test_a_malformed_but_signed_body_is_a_400_and_stores_nothing(served, body):
    client, db, _, _ = served
    before = counts(db)
    answer = client.post("/shopify/webhook", content=body, headers=headers(body, "orders/create", "wh-bad"))
    assert answer.status_code == 400
    assert counts(db) == before


def test_a_bad_payload_does_not_block_the_next_one(served):
    client, db, _, _ = served
    fake = FakeShopify()
    broken = an_order(fake)
    broken["line_items"][0]["price"] = "eighty"
    good = an_order(fake)
    for webhook_id, payload in (("wh-broken", broken), ("wh-good", good)):
        body = json.dumps(payload).encode()
        assert client.post("/shopify/webhook", content=body,
                           headers=headers(body, "orders/updated", webhook_id)).status_code == 200
    assert "eighty" in wait_applied(db, "wh-broken")["last_error"]
    assert wait_applied(db, "wh-good")["applied_at"] is not None
    with db.cursor() as cur:
        cur.execute("SELECT store_order_id FROM orders WHERE store_order_id IN (%s, %s)",
                    (str(broken["id"]), str(good["id"])))
        assert [r["store_order_id"] for r in cur.fetchall()] == [str(good["id"])]


def test_a_refund_webhook_adds_a_return_for_the_orders_customer(served):
    client, db, _, _ = served
    fake = FakeShopify()
    order = an_order(fake, quantity=3)
    body = json.dumps(order).encode()
    client.post("/shopify/webhook", content=body, headers=headers(body, "orders/create", "wh-o"))
    wait_applied(db, "wh-o")
    line = order["line_items"][0]
    refund = {"id": 777, "order_id": order["id"], "created_at": "2024-07-09T08:30:00Z",
              "refund_line_items": [{"id": 1, "line_item_id": line["id"], "quantity": 1, "subtotal": "78.33",
                                     "line_item": line}]}
    body = json.dumps(refund).encode()
    answer = client.post("/shopify/webhook", content=body, headers=headers(body, "refunds/create", "wh-r"))
    assert answer.status_code == 200
    assert wait_applied(db, "wh-r")["applied_at"] is not None
    with db.cursor() as cur:
        cur.execute("""SELECT o.total, o.kind, o.ordered_at, c.store_customer_id FROM orders o
                       JOIN customers c USING (customer_id) WHERE o.store_order_id = %s""", (f"{order['id']}-R777",))
        assert cur.fetchone() == {"total": Decimal("-78.33"), "kind": "return", "store_customer_id": "7001",
                                  "ordered_at": datetime(2024, 7, 9, 8, 30, tzinfo=timezone.utc)}


def test_the_customer_card_shows_an_order_that_arrived_after_the_run(served):
    client, db, ctx, fixture = served
    public_id = fixture.public_ids["S001"]
    before = lookup_customer(ctx, LookupCustomerInput(customer=public_id)).customer
    assert before.has_profile
    payload = an_order(FakeShopify(), quantity=1)
    body = json.dumps(payload).encode()
    client.post("/shopify/webhook", content=body, headers=headers(body, "orders/create", "wh-fresh"))
    wait_applied(db, "wh-fresh")
    deadline = time.monotonic() + 15   # the applier drops cached answers once it has folded the order in
    while True:
        after = lookup_customer(ctx, LookupCustomerInput(customer=public_id)).customer
        if after.orders != before.orders or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert after.orders == before.orders + 1
    assert after.lifetime_value == pytest.approx(before.lifetime_value + 75.0)
    assert after.last_order_at == datetime(2024, 7, 5, 10, 0, tzinfo=timezone.utc)
    assert after.days_since_last_order == 0
    assert after.recent_orders[0].total == 75.0
    assert after.churn_probability == before.churn_probability      # scores wait for the next run
    # Gorgias notes read the same figures, one customer or a worker's batch at a time
    customer_id = fixture.customer_ids["S001"]
    one = customer_facts(ctx, customer_id)
    batch = customer_facts_many(ctx, [customer_id])[customer_id]
    for facts in (one, batch):
        assert (facts.orders, facts.lifetime_value, facts.last_order_on, facts.days_since_last_order) == (
            after.orders, after.lifetime_value, after.last_order_at.date(), 0)
    # Lists read from the run (the App Home's at-risk panel is one) add the same orders, and say so.
    listed = run_tool(ctx, "analyze_customers", {"limit": 50})
    row = next(r for r in listed.rows if r.public_id == public_id)
    assert (row.orders, row.lifetime_value, row.days_since_last_order) == (after.orders, after.lifetime_value, 0)
    assert row.churn_probability == before.churn_probability
    assert "1 of them ordered since the run" in listed.summary and public_id in listed.summary
    others = [r for r in listed.rows if r.public_id != public_id]
    assert others and all(r.public_id not in listed.summary for r in others)


def test_a_webhook_and_the_sync_store_the_same_order_the_same_way(served, tmp_path):
    """REST-shaped webhooks and GraphQL pages go through one mapping: syncing orders a webhook
    already brought (with discounts, a refund, a cancellation, a guest) changes nothing."""
    from pydantic import SecretStr

    from wiring.shopify import sync_shopify

    client, db, ctx, _ = served
    with FakeShopify("shpat_parity") as fake:
        fake.clock = datetime(2024, 7, 1, tzinfo=timezone.utc)
        kit = {"sku": "K1", "title": "Deluxe quilt kit", "quantity": 3, "price": "80.00", "discount": "7.50"}
        pins = {"sku": "N1", "title": "Pins and needles", "quantity": 2, "price": "4.00"}
        refunded = fake.add_order([kit, pins], customer={"id": 7001, "email": None, "phone": None,
                                                         "first_name": None, "last_name": None}, country="US")
        fake.refund(refunded, [(0, 1, 77.50)])
        cancelled = fake.add_order([pins], customer=None)
        fake.cancel(cancelled)
        for n, node in enumerate((refunded, cancelled)):
            body = json.dumps(fake.rest_order(node)).encode()
            client.post("/shopify/webhook", content=body, headers=headers(body, "orders/updated", f"wh-p{n}"))
            assert wait_applied(db, f"wh-p{n}")["applied_at"] is not None
        before = counts(db)
        synced = sync_shopify(ctx.settings.model_copy(update={
            "shopify_shop": "parity.myshopify.com", "shopify_access_token": SecretStr("shpat_parity"),
            "shopify_api_url": fake.url}), db)
    assert synced.orders_fetched == 2
    assert (synced.inserted, synced.updated, synced.returns) == (0, 0, 0)
    assert counts(db)["orders"] == before["orders"]


def test_an_oversized_body_is_refused_and_an_unused_topic_is_acknowledged_without_storing(served):
    client, db, _, _ = served
    before = counts(db)
    huge = b'{"id": 1, "pad": "' + b"x" * (3 << 20) + b'"}'
    assert client.post("/shopify/webhook", content=huge,
                       headers=headers(huge, "orders/create", "wh-huge")).status_code == 413
    body = json.dumps({"id": 5, "title": "a product"}).encode()
    answer = client.post("/shopify/webhook", content=body, headers=headers(body, "products/update", "wh-p"))
    assert answer.status_code == 200 and answer.json()["status"] == "ignored"
    assert counts(db) == before


def test_a_late_older_delivery_does_not_put_old_lines_back(served):
    client, db, _, _ = served
    fake = FakeShopify()
    node = fake.add_order([{"sku": "K1", "title": "Deluxe quilt kit", "quantity": 1, "price": "80.00"}],
                          customer={"id": 7001, "email": None, "phone": None, "first_name": None, "last_name": None},
                          created_at=datetime(2024, 7, 5, 10, 0, tzinfo=timezone.utc))
    older = fake.rest_order(node)
    fake.edit_order(node, set_quantity={0: 4})
    newer = fake.rest_order(node)
    for webhook_id, payload in (("wh-newer", newer), ("wh-older", older)):   # Shopify's retry comes late
        body = json.dumps(payload).encode()
        client.post("/shopify/webhook", content=body, headers=headers(body, "orders/updated", webhook_id))
        assert wait_applied(db, webhook_id)["applied_at"] is not None
    with db.cursor() as cur:
        cur.execute("SELECT total FROM orders WHERE store_order_id = %s", (str(newer["id"]),))
        assert cur.fetchone()["total"] == Decimal("320.00")                # 4 x 80.00, not 1 x 80.00
