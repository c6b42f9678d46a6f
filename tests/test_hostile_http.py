"""Hostile requests to the web app: /slack/events checks the signature on the raw bytes before
parsing; malformed bodies are 400/401 with no traceback; JSON depth is bounded (hostile-input issue, 3)."""
from __future__ import annotations

import json
import logging
import uuid

import pytest

from sql.safe_input import BadBody, json_depth, loads_bounded
from tests.test_slack_support import Harness, event_body


@pytest.fixture
def harness(settings, db):
    h = Harness(settings, db)
    yield h
    h.close()


UNSIGNED = [
    (b"[1,2,3]", "application/json"),
    (b"payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    (b"\xff\xfe", "application/json"),
    (b"[" * 100_000 + b"]" * 100_000, "application/json"),
    (b"{}", "application/json"),
]


@pytest.mark.parametrize("body, content_type", UNSIGNED)
def test_unsigned_garbage_is_401_without_a_traceback(harness, caplog, body, content_type):
    caplog.set_level(logging.DEBUG)
    response = harness.http.post("/slack/events", content=body, headers={"Content-Type": content_type})
    assert response.status_code == 401
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


SIGNED_BAD = [
    ("[1,2,3]", "application/json"),
    ("payload=%7Bnot-json", "application/x-www-form-urlencoded"),
    ("payload=" + "%5B" * 5000 + "%5D" * 5000, "application/x-www-form-urlencoded"),
    ("[" * 100_000 + "]" * 100_000, "application/json"),
    (json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T0FAKE", "event": "string"}),
     "application/json"),
    ('"just a string"', "application/json"),
]


@pytest.mark.parametrize("body, content_type", SIGNED_BAD)
def test_signed_malformed_bodies_are_400_without_a_traceback(harness, caplog, body, content_type):
    caplog.set_level(logging.DEBUG)
    response = harness.post(body, content_type=content_type)
    assert response.status_code == 400, response.text
    assert "Traceback" not in caplog.text and not any(r.exc_info for r in caplog.records)


def test_signed_non_utf8_body_is_400(harness, caplog):
    import hashlib
    import hmac
    import time

    from tests.test_slack_support import SIGNING_SECRET

    body = b"\xff\xfe"
    ts = str(int(time.time()))
    signature = "v0=" + hmac.new(SIGNING_SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    response = harness.http.post("/slack/events", content=body, headers={
        "X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": "application/json"})
    assert response.status_code == 400
    assert not any(r.exc_info for r in caplog.records)


def test_good_event_still_acknowledged(harness):
    event = {"type": "app_mention", "user": "U0ALICE", "text": "<@UBOT> who churns?", "ts": "1700000000.000900",
             "channel": "C0GENERAL", "event_ts": "1700000000.000900"}
    assert harness.post(event_body(event, f"Ev{uuid.uuid4().hex[:10]}")).status_code == 200


def test_bounded_json_loader():
    assert json_depth(b'{"a": "[[[[", "b": [1, {"c": []}]}') == 4
    assert loads_bounded(b'{"a": [1]}') == {"a": [1]}
    for bad in (b"[" * 100_000 + b"]" * 100_000, b"\xff", b"{not json"):
        with pytest.raises(BadBody):
            loads_bounded(bad)


# --- 8. slash-command replay ------------------------------------------------------------------------

def test_a_replayed_slash_command_is_answered_once(harness):
    import time

    from tests.test_slack_support import command_body

    body = command_body("/churn-check", "", response_url=harness.fake.response_url())
    first = harness.post(body, content_type="application/x-www-form-urlencoded")
    harness.fake.wait_for("chat.postMessage")
    replay = harness.post(body, content_type="application/x-www-form-urlencoded")  # same bytes, re-signed
    assert first.status_code == 200 and replay.status_code == 200
    time.sleep(1.0)
    assert len(harness.fake.calls_to("chat.postMessage")) == 1
    assert len(harness.tools.calls) == 1
    # A new invocation (its own trigger id) is answered.
    harness.command("/churn-check", "")
    harness.fake.wait_for("chat.postMessage", count=2)
    assert len(harness.tools.calls) == 2
