"""The Gorgias parts on their own: payload leniency, urgency, the draft guard, the REST client
(limiter, 429, errors, configuration) against the fake, and several workers draining one inbox."""
from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from analytics.cache import Cache
from analytics.core import ToolContext
from analytics.limits import RateLimiter
from gorgias.client import GorgiasAPIError, GorgiasClient, GorgiasConfigError, base_url
from gorgias.draft import check_draft
from gorgias.facts import CustomerFacts, RecentOrder
from gorgias.inbox import Inbox
from gorgias.payload import PayloadError, parse_event
from gorgias.urgency import assess_urgency
from gorgias.worker import InboxWorker
from tests.analytics_fixture import load_fixture
from tests.fake_gorgias import FakeGorgias, ticket_payload


def client_settings(settings, url, **extra):
    return settings.model_copy(update={"gorgias_base_url": url, "gorgias_username": "agent@store.test",
                                       "gorgias_api_key": SecretStr("test-api-key"), **extra})


def test_templated_strings_are_accepted():
    body = {"ticket": {"id": "123", "status": "open", "spam": "false", "tags": "VIP, no-ai",
                       "customer": {"email": "", "external_id": 4411}},
            "message": {"id": "987", "from_agent": "false", "public": "true", "channel": "email",
                        "body_text": "hi", "source": {"from": "ann@example.com"}}}
    event = parse_event(json.dumps(body).encode())
    assert (event.ticket_id, event.message_id) == (123, 987)
    assert event.ticket.tags == ["vip", "no-ai"] and event.ticket.customer.email is None
    assert event.ticket.customer.store_ids() == ["4411"] and event.message.source.from_.address == "ann@example.com"


def test_mismatched_ticket_ids_are_rejected():
    body = ticket_payload(1, 2)
    body["message"]["ticket_id"] = 3
    with pytest.raises(PayloadError, match="does not match"):
        parse_event(json.dumps(body).encode())


@pytest.mark.parametrize("text, level, reason", [
    ("Please cancel my order before it ships", "high", "cancellation request"),
    ("I need to change my shipping address", "high", "address change"),
    ("The fabric arrived torn", "high", "damaged item"),
    ("My parcel never arrived", "high", "missing item"),
    ("Where is my order? Still waiting", "normal", "late delivery"),
    ("Do you sell linen?", "low", None),
])
def test_urgency(text, level, reason):
    urgency = assess_urgency(text)
    assert urgency.level == level
    assert (reason in urgency.reasons) if reason else urgency.reasons == []


def test_draft_guard_rejects_promises_and_invented_orders():
    facts = CustomerFacts(customer_id=1, recent_orders=[
        RecentOrder(order_id="O0006", ordered_on="2024-06-10", total=10, items=1)])
    assert check_draft("I can see your order O0006 and I'm checking it now.", facts) is None
    assert "order '4411'" in check_draft("Your order #4411 has shipped.", facts)
    assert "compensation" in check_draft("Here is 15% off your next order.", facts)
    assert "compensation" in check_draft("We'll refund you today.", facts)
    assert "compensation" in check_draft("Use this coupon at checkout.", None)
    from gorgias.sources import SMS
    assert check_draft("Sorry about that. I'm checking now. Talk soon.", None, SMS) is None
    assert "too long for SMS" in check_draft("One. Two. Three. Four. Five.", None, SMS)


def test_base_url_and_missing_configuration(settings):
    assert base_url(settings.model_copy(update={"gorgias_domain": "quiltshop"})) == "https://quiltshop.gorgias.com"
    assert base_url(settings.model_copy(update={"gorgias_domain": "quiltshop.gorgias.com"})) == "https://quiltshop.gorgias.com"
    with pytest.raises(GorgiasConfigError, match="GORGIAS_DOMAIN"):
        base_url(settings.model_copy(update={"gorgias_domain": None, "gorgias_base_url": None}))
    with pytest.raises(GorgiasConfigError, match="GORGIAS_API_KEY"):
        GorgiasClient(settings.model_copy(update={"gorgias_base_url": "http://x", "gorgias_api_key": None}))


def test_rate_limiter_holds_the_window():
    limiter = RateLimiter("gorgias_api", 3, 0.4)
    started = time.monotonic()
    waits = [limiter.acquire() for _ in range(4)]
    assert waits[:3] == [0.0, 0.0, 0.0] and time.monotonic() - started >= 0.38


def test_client_posts_as_configured_agent_and_classifies_errors(settings):
    with FakeGorgias() as fake:
        client = GorgiasClient(client_settings(settings, fake.url, gorgias_agent_user_id=42))
        posted = client.post_internal_note(5, "<p>x</p>", "x")
        sent = fake.post_requests()[0]["json"]
        assert sent["sender"] == {"id": 42} and sent["channel"] == "internal-note" and posted["id"]
        assert [m["id"] for m in client.list_messages(5)] == [posted["id"]]
        fake.script.append((404, {}))
        with pytest.raises(GorgiasAPIError) as info:
            client.post_internal_note(5, "<p>x</p>", "x")
        assert info.value.status == 404 and not info.value.retriable
        fake.script.append((502, {}))
        with pytest.raises(GorgiasAPIError) as info:
            client.list_messages(5)
        assert info.value.retriable
        bad = GorgiasClient(client_settings(settings, fake.url, gorgias_api_key=SecretStr("wrong")))
        with pytest.raises(GorgiasAPIError, match="401"):
            bad.list_messages(5)
        client.close()
        bad.close()


def test_a_429_longer_than_half_the_lease_hands_the_event_back(settings):
    with FakeGorgias() as fake:
        client = GorgiasClient(client_settings(settings, fake.url, gorgias_lease_seconds=4))
        fake.script.append((429, {"Retry-After": "30"}))
        started = time.monotonic()
        with pytest.raises(GorgiasAPIError) as info:
            client.list_messages(1)
        assert info.value.retriable and info.value.status == 429 and time.monotonic() - started < 1
        client.close()


def test_429_retry_after_holds_every_thread(settings):
    with FakeGorgias() as fake:
        client = GorgiasClient(client_settings(settings, fake.url))
        fake.script.append((429, {"Retry-After": "1"}))
        started = time.monotonic()
        client.list_messages(1)
        assert time.monotonic() - started >= 0.95
        client.close()


def test_two_worker_instances_drain_one_inbox_without_duplicates(fresh_db, settings):
    load_fixture(fresh_db, settings)
    inbox = Inbox(fresh_db)
    for n in range(40):
        event = parse_event(json.dumps(ticket_payload(70_000 + n, 900_000 + n,
                                                      sender_email="kenji.sato@example.com")).encode())
        inbox.enqueue(event)
    with FakeGorgias() as fake:
        cfg = client_settings(settings, fake.url, database_url=fresh_db.url, anthropic_api_key=None)
        ctx = ToolContext(db=fresh_db, settings=cfg, cache=Cache(None))
        workers = [InboxWorker(cfg, fresh_db, ctx, GorgiasClient(cfg)) for _ in range(2)]
        for worker in workers:
            worker.start(2)
        try:
            notes = fake.wait_for_notes(40, timeout=30)
            time.sleep(0.3)
        finally:
            for worker in workers:
                worker.stop()
    tickets = [n["ticket_id"] for n in fake.notes()]
    assert len(notes) == 40 and sorted(tickets) == list(range(70_000, 70_040))
    assert {r["status"] for r in inbox.status_counts()} == {"done"}


def test_facts_fall_back_to_the_order_history_when_the_enrichment_fails(fresh_db, settings, monkeypatch):
    from gorgias.facts import customer_facts
    from tests.analytics_fixture import CUSTOMERS, ORDERS, order_total

    fx = load_fixture(fresh_db, settings)
    ctx = ToolContext(db=fresh_db, settings=settings, cache=Cache(None))
    orders = [o for o in ORDERS if o[0] == "S002" and o[2] == "sale"]
    expected = sum(order_total(o[3], o[4]) for o in orders)
    shared = customer_facts(ctx, fx.customer_ids["S002"])
    assert shared.source == "enrichment" and shared.lifetime_value == pytest.approx(expected)

    def broken(*args, **kwargs):
        raise RuntimeError("enrichment down")

    monkeypatch.setattr("analytics.enrichment.customer_context", broken)
    fallback = customer_facts(ctx, fx.customer_ids["S002"])
    assert fallback.source == "orders" and fallback.lifetime_value == pytest.approx(expected)
    assert fallback.orders == len(orders) and fallback.name == CUSTOMERS["S002"][0]
    assert [o.order_id for o in fallback.recent_orders] == [o.order_id for o in shared.recent_orders]


def test_database_down_at_intake_answers_503_so_gorgias_delivers_again(settings):
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from gorgias.inbox import IntakeWriter
    from gorgias.webhook import make_webhook_endpoint

    class DownInbox:
        def enqueue_many(self, events):
            raise OSError("connection refused")

    cfg = settings.model_copy(update={"gorgias_webhook_secret": SecretStr("s")})
    writer = IntakeWriter(DownInbox())
    app = Starlette(routes=[Route("/gorgias/webhook", make_webhook_endpoint(cfg, writer, lambda: None),
                                  methods=["POST"])])
    with TestClient(app) as client:
        response = client.post("/gorgias/webhook", json=ticket_payload(1, 2), headers={"X-Webhook-Token": "s"})
    writer.close()
    assert response.status_code == 503 and "deliver it again" in response.json()["error"]


def test_optional_tags_and_priority_after_the_note(settings):
    from gorgias.note import Note

    with FakeGorgias() as fake:
        cfg = client_settings(settings, fake.url, gorgias_note_tags=["ai-noted"], gorgias_set_priority=True)
        worker = InboxWorker(cfg, None, None, GorgiasClient(cfg), inbox=object())
        worker._update_ticket(5, Note("<p>x</p>", "x", urgent=True), "test")
        worker._update_ticket(6, Note("<p>x</p>", "x", urgent=False), "test")
        fake.script.append((500, {}))                     # a failed update is logged, never raised
        worker._update_ticket(7, Note("<p>x</p>", "x", urgent=True), "test")
    assert fake.tags == {5: ["ai-noted"], 6: ["ai-noted"]}
    assert fake.tickets == {5: {"priority": "high"}}
