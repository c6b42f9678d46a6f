"""The real Bolt app in Socket Mode: slack_sdk's Socket Mode client connects (via
apps.connections.open on the fake Web API) to a loopback WebSocket server that sends Slack's
envelopes and records the acks."""
from __future__ import annotations

import json
import time

import pytest
from pydantic import SecretStr

from analytics.core import ToolContext
from wiring.web import build_web_app
from bot.app import build_slack_app, socket_mode_handler, web_client
from bot.views import blocks as bk
from tests.fake_slack import FakeSlack
from tests.fake_socket_mode import FakeSocketMode
from tests.test_slack_support import BOT_TOKEN, FakeTools, ScriptedRouter, ServedApp


def _socket_settings(settings, fake):
    return settings.model_copy(update={
        "slack_bot_token": SecretStr(BOT_TOKEN), "slack_signing_secret": None,
        "slack_app_token": SecretStr("xapp-1-test"), "slack_api_url": fake.api_url})


@pytest.fixture(scope="module")
def connected_app(settings, db):
    """One Socket Mode connection for the module (connecting and closing take seconds)."""
    ws = FakeSocketMode().start()
    fake = FakeSlack(socket_url=ws.url).start()
    socket_settings = _socket_settings(settings, fake)
    router, tools = ScriptedRouter(), FakeTools()
    app = build_slack_app(socket_settings, db, client=web_client(socket_settings), ctx=ToolContext(db=db, settings=socket_settings),
                          router_factory=lambda: router, run_tool=tools)
    handler = socket_mode_handler(app, socket_settings)
    handler.connect()
    ws.wait_connected()
    yield ws, fake, router, tools
    handler.close()
    fake.stop()
    ws.stop()


@pytest.fixture
def socket_app(connected_app):
    ws, fake, router, tools = connected_app
    time.sleep(0.2)  # let the previous test's lazy listeners finish before forgetting their calls
    fake.clear()
    router.questions.clear()
    tools.calls.clear()
    return connected_app


def _event_payload(event: dict, event_id: str) -> dict:
    return {"team_id": "T0FAKE", "api_app_id": "A0FAKE", "type": "event_callback", "event_id": event_id,
            "event_time": int(time.time()), "event": event,
            "authorizations": [{"team_id": "T0FAKE", "user_id": "UBOT", "is_bot": True}]}


def test_mention_over_socket_mode_acked_and_answered(socket_app):
    ws, fake, router, _ = socket_app
    event = {"type": "app_mention", "user": "U0BOB", "text": "<@UBOT> top churn risks", "ts": "1700000100.000100",
             "channel": "C0SALES", "event_ts": "1700000100.000100"}
    envelope = ws.send("events_api", _event_payload(event, "EvSock1"))
    ws.wait_ack(envelope)
    assert ws.ack_times[envelope] - ws.sent_at[envelope] < 1.0
    update = fake.wait_for("chat.update")[0].args
    assert update["channel"] == "C0SALES" and any(b["type"] == "table" for b in update["blocks"])
    assert router.questions[0][1] == "slack:C0SALES:1700000100.000100"
    # Slack redelivers the same event after a lost ack: answered once.
    again = ws.send("events_api", _event_payload(event, "EvSock1"), retry_attempt=1)
    ws.wait_ack(again)
    time.sleep(0.4)
    assert len(router.questions) == 1


def test_slash_command_over_socket_mode(socket_app):
    ws, fake, _, tools = socket_app
    payload = {"token": "legacy", "team_id": "T0FAKE", "channel_id": "C0SALES", "user_id": "U0BOB",
               "command": "/forecast", "text": "revenue 8w", "response_url": fake.response_url(),
               "trigger_id": "trig", "api_app_id": "A0FAKE"}
    envelope = ws.send("slash_commands", payload)
    ws.wait_ack(envelope)
    post = fake.wait_for("chat.postMessage")[0].args
    chart = next(b for b in post["blocks"] if b["type"] == "data_visualization")
    assert bk.check_chart(chart) == []
    assert tools.calls == [("forecast_metrics", {"metric": "revenue", "horizon": 8, "unit": "weeks"})]
    help_envelope = ws.send("slash_commands", dict(payload, text="help"))
    ack = ws.wait_ack(help_envelope)
    assert "/forecast" in json.dumps(ack.get("payload"))          # help comes back in the ack itself


def test_block_action_over_socket_mode(socket_app):
    ws, fake, _, tools = socket_app
    value = json.dumps({"tool": "analyze_customers", "arguments": {"limit": 5, "offset": 5}})
    payload = {"type": "block_actions", "team": {"id": "T0FAKE"}, "user": {"id": "U0BOB"}, "api_app_id": "A0FAKE",
               "trigger_id": "trig", "container": {"type": "message", "message_ts": "1700000100.000100",
                                                   "channel_id": "C0SALES"},
               "channel": {"id": "C0SALES"}, "message": {"ts": "1700000100.000100", "text": "x"},
               "actions": [{"action_id": "show_more", "block_id": "b", "type": "button", "value": value}]}
    ws.wait_ack(ws.send("interactive", payload))
    post = fake.wait_for("chat.postMessage")[0].args
    assert post["thread_ts"] == "1700000100.000100"
    assert tools.calls == [("analyze_customers", {"limit": 5, "offset": 5})]


def test_assistant_thread_started_sets_suggested_prompts(socket_app):
    ws, fake, _, _ = socket_app
    event = {"type": "assistant_thread_started", "event_ts": "1700000200.000100",
             "assistant_thread": {"user_id": "U0BOB", "channel_id": "D0BOB", "thread_ts": "1700000200.000001",
                                  "context": {}}}
    ws.wait_ack(ws.send("events_api", _event_payload(event, "EvSock2")))
    prompts = fake.wait_for("assistant.threads.setSuggestedPrompts")[0].args
    assert prompts["channel_id"] == "D0BOB" and prompts["thread_ts"] == "1700000200.000001"
    assert 1 <= len(prompts["prompts"]) <= 4 and all(p["title"] and p["message"] for p in prompts["prompts"])


def test_serve_lifespan_connects_socket_mode(settings, db):
    ws = FakeSocketMode().start()
    fake = FakeSlack(socket_url=ws.url).start()
    socket_settings = _socket_settings(settings, fake)
    router = ScriptedRouter()
    ctx = ToolContext(db=db, settings=socket_settings)
    app = build_slack_app(socket_settings, db, client=web_client(socket_settings), ctx=ctx, router_factory=lambda: router, run_tool=FakeTools())
    web = build_web_app(socket_settings, db, ctx=ctx, slack_app=app, background=True, scheduler=False)
    try:
        with ServedApp(web) as served:
            ws.wait_connected()
            assert len(fake.calls_to("apps.connections.open")) == 1   # with the app-level token
            import httpx

            assert httpx.post(served.url + "/slack/events", content="{}").status_code == 404  # no HTTP mode
            event = {"type": "app_mention", "user": "U0BOB", "text": "<@UBOT> hi there", "ts": "1700000300.000100",
                     "channel": "C0SALES", "event_ts": "1700000300.000100"}
            ws.wait_ack(ws.send("events_api", _event_payload(event, "EvSock3")))
            fake.wait_for("chat.update")
    finally:
        fake.stop()
        ws.stop()
