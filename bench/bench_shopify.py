"""Shopify benchmark: sync throughput against the loopback fake of the Admin GraphQL endpoint (a
first sync of N orders, a re-sync of all of them that changes nothing, an incremental sync after
edits and refunds), and webhook-to-answer freshness: the time from POST /shopify/webhook (the serve
app, in process) until lookup_customer shows the new order for a customer the current run scored.

    python bench/bench_shopify.py [--orders 5000] [--customers 1000] [--page-size 4] [--webhooks 20]

The fake's rate limit is set generous (10,000 points restored a second) so the figures are ours, not
Shopify's: a standard shop restores 100 points a second, about 5 orders a second at the actual cost
of a small order, which the client waits out (tests/test_shopify_sync.py); docs/SHOPIFY.md. Needs PostgreSQL at
TEST_ADMIN_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/postgres); the database it
creates is dropped at the end.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from analytics.cache import Cache  # noqa: E402
from analytics.core import ToolContext  # noqa: E402
from analytics.tools.lookup_customer import LookupCustomerInput, lookup_customer  # noqa: E402
from discovery.pipeline import run_discovery  # noqa: E402
from settings import load_settings  # noqa: E402
from sql.database import Database  # noqa: E402
from tests.fake_shopify import FakeShopify  # noqa: E402
from wiring.shopify import sync_shopify  # noqa: E402
from wiring.web import build_web_app  # noqa: E402

TOKEN, SECRET = "shpat_bench", "bench-webhook-secret"
ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@contextmanager
def fresh_database():
    """(url, Database) of a new migrated database, dropped on exit."""
    import psycopg

    name = f"cib_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    url = ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    db = Database(url)
    try:
        yield url, db
    finally:
        db.close()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
CATEGORIES = ["Fabric", "Notions", "Patterns", "Kits", "Thread"]


def fill_store(fake: FakeShopify, orders: int, customers: int, seed: int = 7) -> list[dict]:
    rng = random.Random(seed)
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    fake.clock = start
    people = [{"id": 80_000 + n, "email": f"buyer{n}@example.com", "phone": f"+1 555 {n:07d}",
               "first_name": f"First{n}", "last_name": f"Last{n}"} for n in range(customers)]
    made = []
    for n in range(orders):
        at = start + timedelta(minutes=n * 90)
        fake.clock = at
        lines = [{"sku": f"SKU-{rng.randrange(400):04d}", "title": f"Product {rng.randrange(400)}",
                  "product_type": rng.choice(CATEGORIES), "quantity": rng.randint(1, 4),
                  "price": f"{rng.uniform(2, 90):.2f}",
                  "discount": f"{rng.uniform(0, 3):.2f}" if rng.random() < 0.2 else 0}
                 for _ in range(rng.randint(1, 4))]
        node = fake.add_order(lines, customer=None if rng.random() < 0.05 else rng.choice(people), created_at=at)
        if rng.random() < 0.05:
            item = node["lineItems"]["nodes"][0]
            fake.refund(node, [(0, 1, float(item["originalUnitPriceSet"]["shopMoney"]["amount"]))],
                        at=at + timedelta(days=3))
        elif rng.random() < 0.02:
            fake.cancel(node, at=at + timedelta(hours=2))
        made.append(node)
    return made


def sync_table(settings, db, fake: FakeShopify, nodes: list[dict]) -> list[tuple]:
    rows = []

    def run(label: str, **kwargs) -> None:
        started = time.perf_counter()
        summary = sync_shopify(settings, db, **kwargs)
        seconds = time.perf_counter() - started
        rows.append((label, summary.orders_fetched, summary.pages, summary.inserted, summary.updated,
                     summary.returns, seconds, summary.orders_fetched / seconds if seconds else 0.0))

    run("first sync (backfill)")
    run("re-sync of everything (no-op)", since=datetime(2000, 1, 1, tzinfo=timezone.utc))
    rng = random.Random(11)
    fake.clock = datetime.now(timezone.utc) - timedelta(days=2)
    for node in rng.sample(nodes, 50):
        fake.edit_order(node, set_quantity={0: node["lineItems"]["nodes"][0]["quantity"] + 1})
    for node in rng.sample(nodes, 50):
        fake.refund(node, [(0, 1, 1.00)])
    run("incremental (50 edits, 50 refunds)")
    run("incremental, nothing changed")
    return rows


def freshness(settings, db, fake: FakeShopify, webhooks: int) -> list[float]:
    """Seconds from each webhook POST to lookup_customer showing the order."""
    from starlette.testclient import TestClient

    ctx = ToolContext(db=db, settings=settings, cache=Cache(None))
    with db.cursor() as cur:
        cur.execute("""SELECT c.store_customer_id, c.public_id FROM customers c
                       JOIN customer_profiles p ON p.customer_id = c.customer_id
                       JOIN discovery_runs r ON r.run_id = p.run_id AND r.is_current
                       ORDER BY c.customer_id LIMIT %s""", (webhooks,))
        scored = cur.fetchall()
    seconds = []
    app = build_web_app(settings, db, ctx=ctx, scheduler=False)
    with TestClient(app) as client:
        for n, person in enumerate(scored):
            before = lookup_customer(ctx, LookupCustomerInput(customer=person["public_id"])).customer.orders
            fake.clock = datetime.now(timezone.utc) - timedelta(minutes=5)
            node = fake.add_order([{"sku": "SKU-0001", "title": "Product 1", "product_type": "Fabric", "quantity": 1,
                                    "price": "10.00"}],
                                  customer={"id": int(person["store_customer_id"]), "email": None, "phone": None,
                                            "first_name": None, "last_name": None})
            body = json.dumps(fake.rest_order(node)).encode()
            signature = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
            started = time.perf_counter()
            answer = client.post("/shopify/webhook", content=body, headers={
                "X-Shopify-Topic": "orders/create", "X-Shopify-Webhook-Id": f"bench-{n}",
                "X-Shopify-Hmac-Sha256": signature, "Content-Type": "application/json"})
            assert answer.status_code == 200, answer.text
            while lookup_customer(ctx, LookupCustomerInput(customer=person["public_id"])).customer.orders == before:
                if time.perf_counter() - started > 30:
                    raise SystemExit(f"webhook {n}: the order did not show within 30 s")
                time.sleep(0.005)
            seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=4)
    parser.add_argument("--webhooks", type=int, default=20)
    args = parser.parse_args()
    with FakeShopify(TOKEN, bucket=20_000, restore_rate=10_000) as fake, fresh_database() as (url, db), \
            tempfile.TemporaryDirectory() as data_dir:
        settings = load_settings(database_url=url, data_dir=data_dir, pseudonym_secret="bench",
                                 shopify_shop="bench-store", shopify_access_token=TOKEN, shopify_api_url=fake.url,
                                 shopify_page_size=args.page_size, shopify_webhook_secret=SECRET, _env_file=None)
        nodes = fill_store(fake, args.orders, args.customers)
        rows = sync_table(settings, db, fake, nodes)
        print(f"\nShopify sync against the loopback fake ({args.orders:,} orders, {args.customers:,} customers, "
              f"page size {args.page_size})\n")
        print(f"{'sync':<38}{'fetched':>9}{'pages':>7}{'inserted':>10}{'updated':>9}{'returns':>9}"
              f"{'seconds':>9}{'orders/s':>10}")
        for label, fetched, pages, inserted, updated, returns, seconds, rate in rows:
            print(f"{label:<38}{fetched:>9,}{pages:>7,}{inserted:>10,}{updated:>9,}{returns:>9,}"
                  f"{seconds:>9.2f}{rate:>10,.0f}")
        summary = run_discovery(db, settings)
        if summary.status != "published":
            raise SystemExit(f"discovery did not publish ({summary.status}: {summary.error})")
        seconds = sorted(freshness(settings, db, fake, args.webhooks))
        print(f"\nWebhook to answer: POST /shopify/webhook until lookup_customer shows the order "
              f"({len(seconds)} webhooks, customers scored by the current run)\n")
        print(f"{'p50 ms':>10}{'p95 ms':>10}{'max ms':>10}{'mean ms':>10}")
        p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
        print(f"{statistics.median(seconds) * 1000:>10.0f}{p95 * 1000:>10.0f}{seconds[-1] * 1000:>10.0f}"
              f"{statistics.mean(seconds) * 1000:>10.0f}")


if __name__ == "__main__":
    main()
