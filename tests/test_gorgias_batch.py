"""The worker's batch path gives the same answers as the one-event path, and stays exactly-once:
batch resolution and recent orders, in-batch duplicate deliveries, a worker that lost its lease
mid-batch, and several batch-claiming workers on one inbox."""
from __future__ import annotations

import json
import time
from datetime import timedelta

from pydantic import SecretStr

from analytics.cache import Cache
from analytics.core import ToolContext
from gorgias.client import GorgiasClient
from gorgias.facts import _recent_orders, customer_facts, customer_facts_many, one_connection, recent_orders_many
from gorgias.inbox import Inbox
from gorgias.payload import parse_event
from gorgias.resolve import resolve_customer, resolve_many
from gorgias.worker import InboxWorker
from tests.analytics_fixture import AS_OF, load_fixture
from tests.fake_gorgias import FakeGorgias, ticket_payload


def client_settings(settings, url, **extra):
    return settings.model_copy(update={"gorgias_base_url": url, "gorgias_username": "agent@store.test",
                                       "gorgias_api_key": SecretStr("test-api-key"), "anthropic_api_key": None,
                                       **extra})


def event(ticket: int, **kwargs):
    return parse_event(json.dumps(ticket_payload(ticket, ticket * 10, **kwargs)).encode())


def test_batch_resolution_gives_the_one_by_one_answers(fresh_db, settings):
    fx = load_fixture(fresh_db, settings)
    ids = fx.customer_ids
    cases = [
        (event(1, sender_email="PRIYA.RAMAN@example.com"), ids["S003"], "email"),
        # a store id beats an email of another customer
        (event(2, sender_email="priya.raman@example.com",
               customer={"id": 9, "external_id": "S005", "email": "priya.raman@example.com"}), ids["S005"], "store id"),
        # an unknown store id falls through to the email
        (event(3, sender_email="kenji.sato@example.com",
               customer={"id": 9, "external_id": "S999", "email": "kenji.sato@example.com"}), ids["S006"], "email"),
        # SMS: only a number, written differently from the stored one
        (event(4, channel="sms", sender_email=None, from_address="+1 555-010-0002",
               customer={"id": 9, "phone": "+1 555-010-0002"}), ids["S002"], "phone"),
        (event(5, sender_email="nobody@elsewhere.test"), None, None),
        (event(6, sender_email=None, customer={"id": 9}), None, None),
    ]
    batch = resolve_many(fresh_db, [e for e, _, _ in cases])
    for (e, customer_id, matched_by), got in zip(cases, batch):
        assert (got.customer_id, got.matched_by) == (customer_id, matched_by), e.ticket_id
        assert got == resolve_customer(fresh_db, e)
    assert resolve_many(fresh_db, []) == []


def test_batch_recent_orders_and_held_connection_give_the_same_facts(fresh_db, settings):
    fx = load_fixture(fresh_db, settings)
    customer_ids = sorted(fx.customer_ids.values())
    batch = recent_orders_many(fresh_db, customer_ids + [987_654])
    assert batch[987_654] == [] and any(batch[c] for c in customer_ids)
    for customer_id in customer_ids:
        assert batch[customer_id] == _recent_orders(fresh_db, customer_id)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    some = fx.customer_ids["S002"]
    with one_connection(ctx) as held:
        assert held.db is not fresh_db
        from_held = customer_facts(held, some, batch[some])
    assert from_held == customer_facts(ctx, some) and from_held.source == "enrichment"
    with fresh_db.connection() as conn:   # the connection went back to the pool in its usual mode
        assert conn.autocommit is False


def _add_orders_after_the_run(db, fx) -> int:
    """A discounted sale and a return after the current run's as_of for a profiled customer, and a
    customer the run has not scored: the cases where the enrichment reads orders differently."""
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO customers (store_customer_id, email, phone, name, country) "
                    "VALUES ('S011', 'new.buyer@example.com', '555 010 0011', 'New Buyer', 'US') RETURNING customer_id")
        newcomer = cur.fetchone()[0]
        for number, (customer_id, days_after, kind, discount, total) in enumerate([
                (fx.customer_ids["S002"], 3, "sale", 5, 45), (fx.customer_ids["S002"], 5, "return", 0, -20),
                (newcomer, 2, "sale", 4, 30), (newcomer, 6, "sale", 0, 55)]):
            cur.execute("INSERT INTO orders (store_order_id, customer_id, ordered_at, kind, subtotal, discount_total, "
                        "total) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                        (f"LATE{number}", customer_id, AS_OF + timedelta(days=days_after), kind, total + discount,
                         discount, total))
    return newcomer


def test_batch_enrichment_gives_the_one_by_one_facts(fresh_db, settings):
    fx = load_fixture(fresh_db, settings)
    newcomer = _add_orders_after_the_run(fresh_db, fx)
    customer_ids = sorted(fx.customer_ids.values()) + [newcomer]
    recent = recent_orders_many(fresh_db, customer_ids)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    batch = customer_facts_many(ctx, customer_ids + customer_ids[:2], recent)   # repeats are enriched once
    assert sorted(batch) == customer_ids
    for customer_id in customer_ids:
        assert batch[customer_id] == customer_facts(ctx, customer_id, recent[customer_id]), customer_id
    assert all(f.source == "enrichment" and f.name for f in batch.values())
    assert batch[newcomer].orders == 2 and batch[newcomer].recent_orders[0].order_id == "LATE3"
    assert any(f.open_risks for f in batch.values()) and any(f.segments for f in batch.values())
    # Without a current run every customer is counted from all their orders.
    with fresh_db.cursor() as cur:
        cur.execute("UPDATE discovery_runs SET is_current = false")
    no_run = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    batch = customer_facts_many(no_run, customer_ids)
    for customer_id in customer_ids:
        assert batch[customer_id] == customer_facts(no_run, customer_id), customer_id
    assert all(not f.segments and f.churn_probability is None for f in batch.values())
    assert customer_facts_many(no_run, []) == {}


def test_batch_enrichment_falls_back_to_one_by_one_when_its_statement_fails(fresh_db, settings, monkeypatch):
    fx = load_fixture(fresh_db, settings)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    some = [fx.customer_ids["S002"], fx.customer_ids["S006"]]
    expected = {c: customer_facts(ctx, c) for c in some}
    import gorgias.facts as facts_module
    real_query = facts_module.query
    monkeypatch.setattr(facts_module, "query", lambda name: "SELECT broken FROM nowhere"
                        if name == "gorgias.customers_facts" else real_query(name))
    assert customer_facts_many(ctx, some) == expected


def test_a_repeat_inside_one_intake_batch_is_a_duplicate_delivery(fresh_db):
    inbox = Inbox(fresh_db)
    first, other = event(10), event(11)
    results = inbox.enqueue_many([first, other, event(10)])
    assert [inserted for _, inserted in results] == [True, True, False]
    assert results[0][0] == results[2][0] != results[1][0]
    again = inbox.enqueue_many([event(10)])
    assert again == [(results[0][0], False)]
    with fresh_db.cursor() as cur:
        cur.execute("SELECT ticket_id, deliveries FROM gorgias_inbox ORDER BY ticket_id")
        assert [(r["ticket_id"], r["deliveries"]) for r in cur.fetchall()] == [(10, 3), (11, 1)]


def test_a_worker_whose_lease_was_taken_over_does_not_post(fresh_db, settings):
    load_fixture(fresh_db, settings)
    inbox = Inbox(fresh_db)
    inbox.enqueue(event(20, sender_email="kenji.sato@example.com"))
    with FakeGorgias() as fake:
        cfg = client_settings(settings, fake.url, gorgias_lease_seconds=0.3)
        ctx = ToolContext(db=fresh_db, settings=cfg, cache=Cache(None))
        slow, other = (InboxWorker(cfg, fresh_db, ctx, GorgiasClient(cfg), inbox) for _ in range(2))
        [mine] = inbox.claim(1, 0.3)
        time.sleep(0.45)                       # the lease ran out while this worker was busy
        [theirs] = inbox.claim(1, 30)          # ... and another worker claimed the event
        assert theirs.event_id == mine.event_id and theirs.attempts == mine.attempts + 1
        finished, outcomes = [], []
        slow._handle_batch([mine], time.monotonic() - 1.0, finished, outcomes)
        assert outcomes == [("released", mine)] and finished == [] and fake.notes() == []
        assert other.handle(theirs) == "done"
    assert len(fake.notes()) == 1
    [row] = inbox.status_counts()
    assert row["status"] == "done"


def test_an_old_claim_still_ours_renews_its_lease_and_posts(fresh_db, settings):
    load_fixture(fresh_db, settings)
    inbox = Inbox(fresh_db)
    inbox.enqueue(event(30, sender_email="kenji.sato@example.com"))
    with FakeGorgias() as fake:
        cfg = client_settings(settings, fake.url, gorgias_lease_seconds=60)
        ctx = ToolContext(db=fresh_db, settings=cfg, cache=Cache(None))
        worker = InboxWorker(cfg, fresh_db, ctx, GorgiasClient(cfg), inbox)
        [claimed] = inbox.claim(1, 60)
        finished, outcomes = [], []
        worker._handle_batch([claimed], time.monotonic() - 30, finished, outcomes)   # half the lease gone
        assert outcomes == [("done", claimed)] and len(fake.notes()) == 1
        with fresh_db.cursor() as cur:
            cur.execute("SELECT locked_until - now() AS left FROM gorgias_inbox")
            assert cur.fetchone()["left"].total_seconds() > 50     # renewed to a full lease
        worker._finish(finished)
    assert [r["status"] for r in inbox.status_counts()] == ["done"]


def test_batch_claiming_workers_post_each_note_exactly_once(fresh_db, settings):
    load_fixture(fresh_db, settings)
    inbox = Inbox(fresh_db)
    events = [event(40_000 + n, sender_email=f"guest{n}@elsewhere.test" if n % 3 else "kenji.sato@example.com",
                    from_agent=(n % 10 == 0)) for n in range(90)]
    inbox.enqueue_many(events)
    expected = sorted(e.ticket_id for e in events if not e.message.from_agent)
    with FakeGorgias() as fake:
        cfg = client_settings(settings, fake.url, gorgias_rate_limit_requests=10_000)   # the fake has no limit
        ctx = ToolContext(db=fresh_db, settings=cfg, cache=Cache(None))
        workers = [InboxWorker(cfg, fresh_db, ctx, GorgiasClient(cfg), Inbox(fresh_db)) for _ in range(2)]
        for worker in workers:
            worker.start(3)
        try:
            fake.wait_for_notes(len(expected), timeout=30)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and {r["status"] for r in inbox.status_counts()} != {"done", "skipped"}:
                time.sleep(0.05)
            time.sleep(0.3)   # a second post of anything would land now
        finally:
            for worker in workers:
                worker.stop()
    assert sorted(n["ticket_id"] for n in fake.notes()) == expected
    counts = {r["status"]: r["events"] for r in inbox.status_counts()}
    assert counts == {"done": len(expected), "skipped": 90 - len(expected)}
    with fresh_db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM gorgias_inbox WHERE status = 'done' AND note_message_id IS NULL")
        assert cur.fetchone()["n"] == 0
