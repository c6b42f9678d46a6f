"""The Gorgias integration end to end: webhooks posted to the real server (uvicorn on loopback,
the worker thread draining the PostgreSQL inbox) against the loopback fake Gorgias REST API, on the
analytics fixture store."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from argparse import Namespace

import httpx
import pytest
from pydantic import SecretStr

from analytics.cache import Cache
from analytics.core import ToolContext
from gorgias.cli import gorgias_cli
from wiring import Services
from wiring.web import gorgias_service
from tests.analytics_fixture import CUSTOMERS, ORDERS, analytics_db, load_fixture, loaded, order_total  # noqa: F401
from tests.fake_anthropic import FakeAnthropic, end_turn, error
from tests.fake_gorgias import FakeGorgias, RunningServer, ticket_payload

SECRET = "test-webhook-secret"
_ids = itertools.count(1000)


def new_ids() -> tuple[int, int]:
    n = next(_ids)
    return 50_000 + n, 700_000 + n * 10


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?](\s|$)", text))


def gorgias_settings(settings, db, fake_url, **extra):
    return settings.model_copy(update={
        "database_url": db.url, "gorgias_base_url": fake_url, "gorgias_username": "agent@store.test",
        "gorgias_api_key": SecretStr("test-api-key"), "gorgias_webhook_secret": SecretStr(SECRET),
        "gorgias_retry_base_seconds": 0.05, "gorgias_max_attempts": 3, "anthropic_api_key": None,
        "gorgias_store_name": "Patchwork Lane", **extra})


@pytest.fixture(scope="module")
def env(loaded, settings):
    db, fx = loaded
    with FakeGorgias() as fake:
        cfg = gorgias_settings(settings, db, fake.url)
        service = gorgias_service(Services(settings=cfg, db=db, ctx=ToolContext(db=db, settings=cfg, cache=Cache(None))))
        with RunningServer(service) as server:
            yield Namespace(db=db, fx=fx, fake=fake, settings=cfg, server=server, service=service,
                            http=httpx.Client(base_url=server.url, timeout=10))


def post(env, payload, *, token=SECRET, raw: bytes | None = None, headers: dict | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps(payload).encode()
    hdrs = {"Content-Type": "application/json", **({"X-Webhook-Token": token} if token else {}), **(headers or {})}
    return env.http.post("/gorgias/webhook", content=body, headers=hdrs)


def inbox_rows(env, ticket_id=None) -> list[dict]:
    with env.db.cursor() as cur:
        if ticket_id is None:
            cur.execute("SELECT * FROM gorgias_inbox ORDER BY event_id")
        else:
            cur.execute("SELECT * FROM gorgias_inbox WHERE ticket_id = %s ORDER BY event_id", (ticket_id,))
        return cur.fetchall()


def wait_finished(env, ticket_id, timeout=10.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = inbox_rows(env, ticket_id)
        if rows and rows[0]["status"] in ("done", "skipped", "parked"):
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"ticket {ticket_id} not processed in {timeout}s: {inbox_rows(env, ticket_id)}")


def note_for(env, ticket_id, timeout=10.0) -> dict:
    row = wait_finished(env, ticket_id, timeout)
    notes = env.fake.notes(ticket_id)
    assert row["status"] == "done", row
    assert len(notes) == 1, notes
    return notes[0]


def draft_of(note: dict) -> str:
    text = note["body_text"]
    start = text.index("Suggested reply")
    body = text[text.index("\n", start) + 1:]
    return body[: body.index("Customer Intelligence Bot ·")].strip()


# --- a known customer ----------------------------------------------------------------------------

def test_known_customer_gets_one_note_with_the_expected_facts(env):
    ticket_id, message_id = new_ids()
    name, email, _phone, _ = CUSTOMERS["S001"]
    orders = [(n, o) for n, o in enumerate(ORDERS, start=1) if o[0] == "S001"]
    lifetime = sum(order_total(o[3], o[4]) for _, o in orders)
    latest_number = min(orders, key=lambda pair: pair[1][1])[0]       # fewest days before as-of
    response = post(env, ticket_payload(ticket_id, message_id, sender_email=email.upper(), sender_name=name,
                                        body="My deluxe quilt kit arrived damaged, the box was crushed."))
    assert response.status_code == 200 and response.json()["status"] == "queued"

    note = note_for(env, ticket_id)
    text = note["body_text"]
    assert note["channel"] == "internal-note" and note["from_agent"] is True and note["via"] == "api"
    assert note["sender"] == {"email": "agent@store.test"}
    assert env.fx.public_ids["S001"] in text and name in text
    assert "matched by email" in text
    assert f"{lifetime:,.2f} over {len(orders)} order(s)" in text
    assert "Value tier: whale" in text
    assert f"O{latest_number:04d}" in text
    assert "damaged item" in text and "Urgency: high" in text
    assert "up to 25%" in text            # lifetime value ≥ 10,000 → the 25% tier (COMPENSATION_TIERS)
    draft = draft_of(note)
    assert "TEMPLATE DRAFT" in text
    assert "%" not in draft and "discount" not in draft.lower()
    assert draft.startswith("Hi Margaret,") and 4 <= sentences(draft) <= 6
    assert f"cib-note:{inbox_rows(env, ticket_id)[0]['event_id']}" in text
    assert "<li>" in note["body_html"] and "&lt;" not in name


def test_duplicate_delivery_still_one_note(env):
    ticket_id, message_id = new_ids()
    payload = ticket_payload(ticket_id, message_id, sender_email="oliver.brandt@example.com")
    first, second = post(env, payload), post(env, payload)
    assert first.json()["status"] == "queued" and second.json()["status"] == "duplicate"
    assert first.json()["event_id"] == second.json()["event_id"]
    note_for(env, ticket_id)
    third = post(env, payload)                      # a redelivery after the note was posted
    assert third.json()["status"] == "duplicate"
    time.sleep(0.6)                                 # longer than the worker's idle poll
    assert len(env.fake.notes(ticket_id)) == 1
    assert inbox_rows(env, ticket_id)[0]["deliveries"] == 3


def test_ticket_with_messages_shape_uses_the_newest_message(env):
    ticket_id, message_id = new_ids()
    payload = ticket_payload(ticket_id, message_id, shape="ticket_with_messages",
                             sender_email="priya.raman@example.com", body="Please cancel my order")
    assert post(env, payload).status_code == 200
    row = wait_finished(env, ticket_id)
    assert row["message_id"] == message_id
    assert "cancellation request" in note_for(env, ticket_id)["body_text"]


# --- authentication and validation: nothing stored ---------------------------------------------

@pytest.mark.parametrize("token", [None, "wrong-secret", SECRET + "x", ""])
def test_wrong_or_missing_secret_is_401_and_nothing_stored(env, token):
    ticket_id, message_id = new_ids()
    response = post(env, ticket_payload(ticket_id, message_id), token=token)
    assert response.status_code == 401
    assert "X-Webhook-Token" in response.json()["error"]
    assert inbox_rows(env, ticket_id) == []


def test_signature_is_checked_when_present(env):
    ticket_id, message_id = new_ids()
    body = json.dumps(ticket_payload(ticket_id, message_id, sender_email="nobody@nowhere.test")).encode()
    bad = post(env, None, raw=body, headers={"X-Signature": "sha256=" + "0" * 64})
    assert bad.status_code == 401 and inbox_rows(env, ticket_id) == []
    good_sig = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    good = post(env, None, raw=body, headers={"X-Signature": f"sha256={good_sig}"})
    assert good.status_code == 200 and len(inbox_rows(env, ticket_id)) == 1


@pytest.mark.parametrize("raw, status, needle", [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 422, "JSON object"),
    (json.dumps({"ticket": {"id": 1, "status": "open"}}).encode(), 422, "messages"),
    (json.dumps({"ticket": {"id": 1}, "message": {"body_text": "hi"}}).encode(), 422, "message.id"),
    (json.dumps({"ticket": {"id": "abc"}, "message": {"id": 5}}).encode(), 422, "'id'"),
])
def test_malformed_body_is_4xx_and_nothing_stored(env, raw, status, needle):
    before = len(inbox_rows(env))
    response = post(env, None, raw=raw)
    assert response.status_code == status
    assert needle in response.json()["error"]
    assert len(inbox_rows(env)) == before


def test_oversized_body_is_413_and_nothing_stored(env):
    ticket_id, message_id = new_ids()
    payload = ticket_payload(ticket_id, message_id, body="x" * (env.settings.gorgias_max_body_bytes + 10))
    response = post(env, payload)
    assert response.status_code == 413 and str(env.settings.gorgias_max_body_bytes) in response.json()["error"]
    assert inbox_rows(env, ticket_id) == []


# --- filters -------------------------------------------------------------------------------------

@pytest.mark.parametrize("changes, reason", [
    ({"from_agent": True}, "message from an agent"),
    ({"channel": "internal-note", "public": False}, "internal note"),
    ({"body": "Customer Intelligence Bot · cib-note:12 · facts"}, "our own note"),
    ({"status": "closed"}, "closed ticket"),
    ({"spam": True}, "spam ticket"),
    ({"tags": ("vip", "ai_ignore")}, "tag 'ai_ignore'"),
    ({"tags": ("no-ai",)}, "tag 'no-ai'"),
    ({"sender_email": "no-reply@shipping.example.com"}, "no-reply sender"),
    ({"subject": "Automatic reply: out of office"}, "auto-reply"),
    ({"sender_email": "newsletter@fabricdeals.example.com"}, "marketing sender"),
])
def test_each_filter_skips_with_its_reason(env, changes, reason):
    ticket_id, message_id = new_ids()
    kwargs = {"sender_email": "margaret.whitfield@example.com", **changes}
    assert post(env, ticket_payload(ticket_id, message_id, **kwargs)).status_code == 200
    row = wait_finished(env, ticket_id)
    assert row["status"] == "skipped" and row["skip_reason"].startswith(reason)
    assert env.fake.notes(ticket_id) == []


def test_force_tag_overrides_filters_but_not_loop_guards(env):
    ticket_id, message_id = new_ids()
    post(env, ticket_payload(ticket_id, message_id, status="closed", tags=("no-ai", "force-ai"),
                             sender_email="margaret.whitfield@example.com"))
    assert "matched by email" in note_for(env, ticket_id)["body_text"]
    ticket_id, message_id = new_ids()
    post(env, ticket_payload(ticket_id, message_id, from_agent=True, tags=("force-ai",)))
    assert wait_finished(env, ticket_id)["skip_reason"] == "message from an agent"


# --- sources and resolution ----------------------------------------------------------------------

@pytest.mark.parametrize("kwargs, label, lo, hi", [
    ({"channel": "email"}, "email", 4, 6),
    ({"channel": "chat", "via": "gorgias_chat"}, "chat", 2, 3),
    ({"channel": "sms", "via": "twilio", "from_address": "+1 555 010 0002"}, "SMS", 2, 3),
    ({"channel": "phone", "via": "ringcentral", "source_type": "phone",
      "body": "Voicemail transcription: hi, calling about my order"}, "voicemail (RingCentral)", 2, 4),
    ({"channel": "api", "via": "api"}, "API", 3, 5),
])
def test_each_source_sets_the_draft_style(env, kwargs, label, lo, hi):
    ticket_id, message_id = new_ids()
    post(env, ticket_payload(ticket_id, message_id, sender_email="oliver.brandt@example.com", **kwargs))
    note = note_for(env, ticket_id)
    assert f"Channel: {label}\n" in note["body_text"]
    assert lo <= sentences(draft_of(note)) <= hi, draft_of(note)


def test_unknown_customer_gets_a_useful_note(env):
    ticket_id, message_id = new_ids()
    post(env, ticket_payload(ticket_id, message_id, sender_email="stranger@elsewhere.test",
                             body="Where is my parcel?"))
    text = note_for(env, ticket_id)["body_text"]
    assert "customer not found" in text and "email stranger@elsewhere.test" in text
    assert "order number or the email" in text
    assert "compensation" not in text.split("Suggested reply")[0].lower().replace("no compensation", "")
    assert "late delivery" in text


def test_resolution_by_phone_and_by_store_id(env):
    ticket_id, message_id = new_ids()   # SMS from a differently written number of S002
    post(env, ticket_payload(ticket_id, message_id, channel="sms", sender_email=None,
                             from_address="001-555-010-0002", customer={"id": 5, "name": "?"}))
    text = note_for(env, ticket_id)["body_text"]
    assert "matched by phone" in text and env.fx.public_ids["S002"] in text
    ticket_id, message_id = new_ids()   # Shopify integration data carries the store's id
    customer = {"id": 6, "email": "other@example.test",
                "integrations": {"12": {"__integration_type__": "shopify", "customer": {"id": "S003"}}}}
    post(env, ticket_payload(ticket_id, message_id, sender_email="other@example.test", customer=customer))
    text = note_for(env, ticket_id)["body_text"]
    assert "matched by store id" in text and env.fx.public_ids["S003"] in text


# --- Gorgias failures ----------------------------------------------------------------------------

def test_429_with_retry_after_then_success(env):
    ticket_id, message_id = new_ids()
    env.fake.script.append((429, {"Retry-After": "1"}))
    post(env, ticket_payload(ticket_id, message_id, sender_email="kenji.sato@example.com"))
    note_for(env, ticket_id, timeout=15)
    posts = [r for r in env.fake.post_requests() if f"/tickets/{ticket_id}/" in r["path"]]
    assert len(posts) == 2 and posts[1]["at"] - posts[0]["at"] >= 0.95
    assert inbox_rows(env, ticket_id)[0]["attempts"] == 1      # waited inside one attempt


def test_5xx_until_parked_then_cli_retry_posts_it(env, capsys):
    ticket_id, message_id = new_ids()
    env.fake.always_status = 503
    try:
        post(env, ticket_payload(ticket_id, message_id, sender_email="grace.mbeki@example.com"))
        row = wait_finished(env, ticket_id, timeout=15)
    finally:
        env.fake.always_status = None
    assert row["status"] == "parked" and row["attempts"] == env.settings.gorgias_max_attempts
    assert "503" in row["last_error"]
    assert gorgias_cli(env.db, Namespace(action="status")) == 0
    assert f"event {row['event_id']} ticket {ticket_id}" in capsys.readouterr().out
    assert gorgias_cli(env.db, Namespace(action="retry")) == 0
    assert "requeued" in capsys.readouterr().out     # NOTIFY wakes the running worker
    assert "matched by email" in note_for(env, ticket_id)["body_text"]


def test_a_5xx_after_gorgias_stored_the_note_does_not_post_it_twice(env):
    ticket_id, message_id = new_ids()
    env.fake.fail_after_post.append(504)
    post(env, ticket_payload(ticket_id, message_id, sender_email="amara.okafor@example.com"))
    row = wait_finished(env, ticket_id, timeout=15)
    notes = env.fake.notes(ticket_id)
    assert row["status"] == "done" and row["attempts"] == 2
    assert len(notes) == 1 and row["note_message_id"] == notes[0]["id"]


def test_a_4xx_from_gorgias_parks_at_once(env):
    ticket_id, message_id = new_ids()
    env.fake.script.append((404, {}))
    post(env, ticket_payload(ticket_id, message_id, sender_email="lucia.ferreira@example.com"))
    row = wait_finished(env, ticket_id)
    assert row["status"] == "parked" and row["attempts"] == 1 and "404" in row["last_error"]
    assert env.fake.notes(ticket_id) == []


# --- Claude drafts, through the loopback Messages API (tests/fake_anthropic.py) ----------------

def test_claude_drafts_the_reply_and_a_rule_breaking_or_failed_draft_is_replaced(fresh_db, settings):
    # A database of its own: the module's server would otherwise drain (and post) these events too.
    db = fresh_db
    load_fixture(db, settings)
    good = "Hi Margaret, I'm so sorry your kit arrived damaged. Could you send a photo? We'll sort it out quickly."
    bad = "Hi Margaret, sorry! Here is a 20% discount on order #99999."
    script = [end_turn(good), end_turn(bad), error(500)]
    with FakeAnthropic(script=script) as claude, FakeGorgias() as fake:
        cfg = gorgias_settings(settings, db, fake.url, anthropic_api_key=SecretStr("sk-test"),
                               anthropic_base_url=claude.url, anthropic_max_retries=0)
        service = gorgias_service(Services(settings=cfg, db=db, ctx=ToolContext(db=db, settings=cfg, cache=Cache(None))))
        with RunningServer(service) as server, httpx.Client(base_url=server.url) as http:
            for n in range(3):
                ticket_id, message_id = new_ids()
                http.post("/gorgias/webhook", headers={"X-Webhook-Token": SECRET}, json=ticket_payload(
                    ticket_id, message_id, sender_email="margaret.whitfield@example.com",
                    body="My quilt kit arrived damaged"))
                fake.wait_for_notes(n + 1)      # one at a time, so the script's order is the tickets' order
            notes = fake.notes()
        sent = [r.body for r in claude.requests]
    assert len(notes) == 3
    assert "drafted by Claude" in notes[0]["body_text"] and good in notes[0]["body_text"]
    assert "TEMPLATE DRAFT" in notes[1]["body_text"] and "rejected" in notes[1]["body_text"]
    assert "20% discount" not in notes[1]["body_text"]
    assert "TEMPLATE DRAFT" in notes[2]["body_text"] and "Claude was unavailable" in notes[2]["body_text"]
    assert sent[0]["model"] == cfg.anthropic_model and "damaged" in sent[0]["messages"][0]["content"]
    assert "Never offer or promise" in sent[0]["system"] and "O0006" in sent[0]["messages"][0]["content"]
