"""Hostile Gorgias webhooks: NULs, ids wider than 64 bits and deep nesting answer alone (stored
cleaned, or 400/422), and one bad event in a group commit never fails its neighbours
(hostile-input issue, 4)."""
from __future__ import annotations

import json
import threading

import pytest
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.routing import Route
from starlette.testclient import TestClient

from gorgias.inbox import Inbox, IntakeWriter
from gorgias.payload import Message, PayloadError, Ticket, TicketEvent, parse_event
from gorgias.webhook import make_webhook_endpoint
from tests.fake_gorgias import ticket_payload


def _client(settings, inbox):
    cfg = settings.model_copy(update={"gorgias_webhook_secret": SecretStr("s")})
    writer = IntakeWriter(inbox)
    app = Starlette(routes=[Route("/gorgias/webhook", make_webhook_endpoint(cfg, writer, lambda: None),
                                  methods=["POST"])])
    return TestClient(app), writer


def _post(client, body):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return client.post("/gorgias/webhook", content=raw,
                       headers={"X-Webhook-Token": "s", "Content-Type": "application/json"})


def _stored(db) -> dict:
    with db.cursor() as cur:
        cur.execute("SELECT ticket_id, message_id, payload FROM gorgias_inbox")
        return {(r["ticket_id"], r["message_id"]): r["payload"] for r in cur.fetchall()}


def test_nul_is_stripped_and_huge_ids_and_deep_json_are_refused(fresh_db, settings):
    client, writer = _client(settings, Inbox(fresh_db))
    with client:
        nul = _post(client, ticket_payload(11, 12, body="hello\u0000 there"))
        huge = _post(client, ticket_payload(2**70, 13))
        huge_message = _post(client, ticket_payload(14, 2**64))
        deep = _post(client, b'{"ticket": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
        text = _post(client, b"\xff\xfe")
    writer.close()
    assert nul.status_code == 200, nul.text
    assert huge.status_code == 422 and "9223372036854775807" in huge.json()["error"]
    assert huge_message.status_code == 422
    assert deep.status_code == 400 and "nested" in deep.json()["error"]
    assert text.status_code == 400
    stored = _stored(fresh_db)
    assert list(stored) == [(11, 12)]
    assert stored[(11, 12)]["message"]["body_text"] == "hello there"


class _GatedInbox(Inbox):
    """Holds the first write until released, so the next requests pile up into one group commit."""

    def __init__(self, db):
        super().__init__(db)
        self.release = threading.Event()
        self.calls = 0

    def enqueue_many(self, events):
        self.calls += 1
        if self.calls == 1:
            self.release.wait(10)
        return super().enqueue_many(events)


def _unsafe_event(ticket_id: int, message_id: int, text: str) -> TicketEvent:
    """An event as a future bug might build it: no parse_event cleaning, a value PostgreSQL refuses."""
    message = Message(id=message_id, ticket_id=ticket_id, body_text=text)
    return TicketEvent(ticket_id=ticket_id, message_id=message_id, ticket=Ticket(id=ticket_id), message=message)


def test_one_bad_event_in_a_group_commit_does_not_fail_its_neighbours(fresh_db):
    inbox = _GatedInbox(fresh_db)
    writer = IntakeWriter(inbox)
    first = writer.submit(parse_event(json.dumps(ticket_payload(1, 1)).encode()))
    good = [writer.submit(parse_event(json.dumps(ticket_payload(100 + i, 1000 + i)).encode())) for i in range(40)]
    bad = writer.submit(_unsafe_event(99, 99, "NUL \x00 inside"))
    more = [writer.submit(parse_event(json.dumps(ticket_payload(200 + i, 2000 + i)).encode())) for i in range(5)]
    inbox.release.set()
    assert first.result(10)[1] is True
    assert all(f.result(10)[1] is True for f in good + more)
    with pytest.raises(Exception):
        bad.result(10)
    writer.close()
    assert len(_stored(fresh_db)) == 46


def test_a_database_refusal_is_422_not_503_for_ever(fresh_db, settings, monkeypatch):
    client, writer = _client(settings, Inbox(fresh_db))
    import gorgias.webhook as webhook

    monkeypatch.setattr(webhook, "parse_event", lambda body: _unsafe_event(7, 8, "x\x00y"))
    with client:
        response = _post(client, ticket_payload(7, 8))
    writer.close()
    assert response.status_code == 422, response.text


def test_parse_event_bounds():
    with pytest.raises(PayloadError) as caught:
        parse_event(b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.status == 400
    event = parse_event(json.dumps(ticket_payload(5, 6, body="a\u0000b", sender_name="N\u0000o")).encode())
    assert event.message.body_text == "ab" and event.message.sender.name == "No"
