"""Shared helpers for the Slack tests (no tests here): typed results shaped like the tools', a
scripted router, signed Slack HTTP requests, and the real web app served by uvicorn on loopback."""
from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from pydantic import BaseModel, SecretStr
from slack_sdk.signature import SignatureVerifier

from analytics.core import ToolContext, ToolError, ToolResult
from wiring.web import build_web_app
from bot.app import build_slack_app, web_client
from tests.fake_slack import FakeSlack

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"


class CustomerRow(BaseModel):
    public_id: str
    value_tier: str | None
    orders: int
    lifetime_value: float
    churn_probability: float | None
    risk_level: str | None


class Totals(BaseModel):
    customers: int
    lifetime_value: float
    customers_at_risk: int
    value_at_risk: float


class CustomersResult(ToolResult):
    totals: Totals
    rows: list[CustomerRow]
    offset: int = 0
    has_more: bool = False


class Point(BaseModel):
    period: str
    value: float
    lower: float | None = None
    upper: float | None = None


class ForecastResult(ToolResult):
    metric: str
    horizon: int
    unit: str
    history: list[Point]
    forecast: list[Point]
    backtest_mape: float | None = None


class CardResult(ToolResult):
    public_id: str
    churn_probability: float
    risk_level: str
    churn_reasons: list[str]


def customers_result(n: int, *, offset: int = 0, has_more: bool = False) -> CustomersResult:
    rows = [CustomerRow(public_id=f"C-{i:08X}", value_tier="vip" if i % 3 else "regular", orders=i % 7 + 1,
                        lifetime_value=1000.0 + i, churn_probability=min(0.99, 0.3 + i / 1000),
                        risk_level="high") for i in range(offset, offset + n)]
    return CustomersResult(tool="analyze_customers", summary=f"{n:,} customers at risk",
                           totals=Totals(customers=n, lifetime_value=sum(r.lifetime_value for r in rows),
                                         customers_at_risk=n, value_at_risk=123456.0),
                           rows=rows, offset=offset, has_more=has_more)


def forecast_result(history: int = 52, horizon: int = 90) -> ForecastResult:
    hist = [Point(period=f"2011-W{i % 52 + 1:02d}-{i}", value=1000 + 10 * i) for i in range(history)]
    fc = [Point(period=f"2012-D{i:03d}", value=2000 + i, lower=1500 + i, upper=2500 + i) for i in range(horizon)]
    return ForecastResult(tool="forecast_metrics", summary="Revenue over the next 90 days: 190,000 (80%: 150k–230k).",
                          metric="revenue", horizon=horizon, unit="days", history=hist, forecast=fc, backtest_mape=0.12)


def card_result(customer: str) -> CardResult:
    return CardResult(tool="lookup_customer", summary=f"{customer} is at high risk (72%).", public_id=customer,
                      churn_probability=0.72, risk_level="high", churn_reasons=["no order for 200 days"])


class FakeTools:
    """A tool runner that records calls and answers with the typed results above."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, tool: str, arguments: dict[str, Any]):
        self.calls.append((tool, dict(arguments)))
        if tool == "forecast_metrics":
            return forecast_result(horizon=int(arguments.get("horizon", 90)))
        if tool == "lookup_customer":
            if arguments["customer"] == "C-UNKNOWN0":
                raise ToolError("I don't know a customer 'C-UNKNOWN0'.")
            return card_result(arguments["customer"])
        if tool == "analyze_customers":
            return customers_result(int(arguments.get("limit", 10)), offset=int(arguments.get("offset", 0)), has_more=True)
        return CustomersResult(tool=tool, summary=f"{tool} overview", totals=Totals(
            customers=10, lifetime_value=1.0, customers_at_risk=1, value_at_risk=1.0), rows=[])


@dataclass
class ToolCall:
    tool: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None


@dataclass
class Answer:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    source: str = "offline"
    clarification: Any = None
    refusal: str | None = None


class ScriptedRouter:
    """Answers every question with the at-risk list; remembers what it was asked. `delay` stands
    in for the model's thinking; `fail` makes it raise."""

    def __init__(self, delay: float = 0.0, fail: bool = False) -> None:
        self.questions: list[tuple[str, str, str | None]] = []
        self.delay, self.fail = delay, fail
        self._lock = threading.Lock()

    def answer(self, question: str, thread_key: str, user: str | None):
        with self._lock:
            self.questions.append((question, thread_key, user))
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("router exploded")
        if "forecast" in question.lower():
            result = forecast_result()
            return Answer(text=result.summary, tool_calls=[ToolCall("forecast_metrics", {"metric": "revenue"}, result)])
        result = customers_result(10, has_more=True)
        return Answer(text=f"Here you go: {result.summary}.",
                      tool_calls=[ToolCall("analyze_customers", {"sort_by": "churn_risk", "limit": 10}, result)])


# --- signed HTTP requests ---------------------------------------------------------------------

def signed_headers(body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None,
                   content_type: str = "application/json") -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature, "Content-Type": content_type}


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps({"token": "legacy", "team_id": "T0FAKE", "api_app_id": "A0FAKE", "type": "event_callback",
                       "event_id": event_id, "event_time": int(time.time()), "event": event,
                       "authorizations": [{"team_id": "T0FAKE", "user_id": "UBOT", "is_bot": True}]})


def command_body(command: str, text: str, *, channel: str = "C0GENERAL", user: str = "U0ALICE",
                 response_url: str = "http://127.0.0.1:9/respond", trigger_id: str | None = None) -> str:
    # Slack gives every invocation its own trigger id; the bot drops a repeated one as a replay.
    trigger_id = trigger_id or f"trig-{uuid.uuid4().hex[:12]}"
    return urlencode({"token": "legacy", "team_id": "T0FAKE", "channel_id": channel, "user_id": user,
                      "command": command, "text": text, "response_url": response_url, "trigger_id": trigger_id,
                      "api_app_id": "A0FAKE"})


def action_body(action: dict[str, Any], *, channel: str | None = "C0GENERAL", message_ts: str = "1700000000.000100",
                user: str = "U0ALICE", view: bool = False) -> str:
    payload: dict[str, Any] = {"type": "block_actions", "team": {"id": "T0FAKE"}, "user": {"id": user},
                               "api_app_id": "A0FAKE", "trigger_id": "trig-1", "actions": [action]}
    if view:
        payload["container"] = {"type": "view", "view_id": "V1"}
        payload["view"] = {"id": "V1", "type": "home"}
    else:
        payload["container"] = {"type": "message", "message_ts": message_ts, "channel_id": channel}
        payload["channel"] = {"id": channel}
        payload["message"] = {"ts": message_ts, "text": "an answer", "type": "message"}
    return urlencode({"payload": json.dumps(payload)})


class Harness:
    """The real web app with the real Bolt app on loopback, against a fresh fake Slack."""

    def __init__(self, settings, db, *, router=None, real_analytics=False, ctx=None, **overrides):
        self.fake = FakeSlack().start()
        self.settings = settings.model_copy(update={
            "slack_bot_token": SecretStr(BOT_TOKEN), "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": self.fake.api_url, "slack_app_token": None, **overrides})
        self.db = db
        self.router = router or ScriptedRouter()
        self.tools = FakeTools()
        if real_analytics:  # the real router and tools on whatever store `db` holds
            ctx = ctx or ToolContext(db=db, settings=self.settings)
            self.slack_app = build_slack_app(self.settings, db, client=web_client(self.settings), ctx=ctx)
        else:
            ctx = ToolContext(db=db, settings=self.settings)
            self.slack_app = build_slack_app(self.settings, db, client=web_client(self.settings), ctx=ctx, router_factory=lambda: self.router,
                                             run_tool=self.tools)
        self.served = ServedApp(build_web_app(self.settings, db, ctx=ctx, slack_app=self.slack_app,
                                              background=False)).__enter__()
        self.http = httpx.Client(base_url=self.served.url, timeout=10)

    def close(self):
        self.http.close()
        self.served.__exit__(None, None, None)
        self.fake.stop()

    def post(self, body: str, *, content_type="application/json", headers=None, **sign):
        all_headers = signed_headers(body, content_type=content_type, **sign)
        all_headers.update(headers or {})
        return self.http.post("/slack/events", content=body, headers=all_headers)

    def event(self, event: dict, event_id: str | None = None, **kw):
        return self.post(event_body(event, event_id or f"Ev{uuid.uuid4().hex[:10]}"), **kw)

    def command(self, command: str, text: str, **kw):
        body = command_body(command, text, response_url=self.fake.response_url(), **kw)
        return self.post(body, content_type="application/x-www-form-urlencoded")

    def action(self, action: dict, **kw):
        return self.post(action_body(action, **kw), content_type="application/x-www-form-urlencoded")


# --- the real web app on loopback ---------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServedApp:
    """A Starlette app served by uvicorn in a thread on a loopback port."""

    def __init__(self, asgi_app) -> None:
        self.port = free_port()
        config = uvicorn.Config(asgi_app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "ServedApp":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
