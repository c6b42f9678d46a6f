"""The MCP server driven by the SDK's own client (mcp 2.3) over stdio (`python app.py mcp` in a
subprocess) and over streamable HTTP (`serve`'s app at /mcp): the registry's full tool list with the
router's schemas, every tool called on the fixture store with the same answers as in-process, a bad
argument and an unknown customer as tool errors, resources and the prompt, bearer-token checks,
the rate limit, no personal data in anything returned, and no campaign file written."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import httpx
import pytest
from pydantic import SecretStr

from analytics.cache import Cache
from analytics.core import ToolContext
from analytics.tools.registry import run_tool, tool_definitions
from tests.analytics_fixture import CUSTOMERS, analytics_db, loaded, pii_strings  # noqa: F401 - fixtures

mcp = pytest.importorskip("mcp")
from mcp.client.session import ClientSession  # noqa: E402
from mcp.client.stdio import StdioServerParameters, stdio_client  # noqa: E402
from mcp.client.streamable_http import streamable_http_client  # noqa: E402
from mcp.shared._httpx_utils import create_mcp_http_client  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "mcp-test-token-0123456789"


@pytest.fixture(scope="module")
def store(loaded, settings, tmp_path_factory):
    """(settings on the fixture store with a private DATA_DIR and MCP_TOKEN, fixture)."""
    db, fixture = loaded
    data_dir = tmp_path_factory.mktemp("mcp-data")
    return settings.model_copy(update={"database_url": db.url, "anthropic_api_key": None, "data_dir": data_dir,
                                       "redis_url": None, "mcp_token": SecretStr(TOKEN)}), fixture


def tool_calls(fixture) -> list[tuple[str, dict]]:
    """At least one call of every tool in the registry, on the fixture store."""
    s001 = fixture.public_ids["S001"]
    return [
        ("analyze_customers", {"sort_by": "churn_risk", "limit": 5}),
        ("analyze_customers", {"sort_by": "value", "limit": 10}),
        ("lookup_customer", {"customer": s001}),
        ("lookup_customer", {"customer": "S002"}),                 # the store's own id is accepted too
        ("analyze_segments", {"mode": "overview"}),
        ("analyze_segments", {"mode": "changes", "days_ago": 28}),
        ("segment_info", {}),
        ("analyze_products", {}),
        ("forecast_metrics", {}),
        ("target_campaign", {"campaign": "vip"}),
        ("target_campaign", {"campaign": "retention"}),
        ("analyze_behavior", {"focus": "segment_moves"}),
        ("get_recommendations", {"customer": s001}),
        ("get_recommendations", {}),
        ("store_metrics", {}),
        ("store_metrics", {"period": "2024", "breakdown": "month"}),
        ("prediction_quality", {}),
    ]


async def exercise(session: ClientSession, fixture) -> dict:
    """Everything the tests check, through one client session."""
    await session.initialize()
    out: dict = {"tools": (await session.list_tools()).tools, "calls": []}
    for name, arguments in tool_calls(fixture):
        out["calls"].append((name, arguments, await session.call_tool(name, arguments)))
    out["bad_argument"] = await session.call_tool("analyze_customers", {"sort_by": "shoe_size"})
    out["extra_argument"] = await session.call_tool("lookup_customer", {"customer": "C-00000000", "email": "x"})
    out["unknown_customer"] = await session.call_tool("lookup_customer", {"customer": "C-00000000"})
    out["unknown_tool"] = await session.call_tool("drop_tables", {})
    out["resources"] = (await session.list_resources()).resources
    out["read"] = {str(r.uri): await session.read_resource(str(r.uri)) for r in out["resources"]}
    out["prompts"] = (await session.list_prompts()).prompts
    out["prompt"] = await session.get_prompt("weekly_customer_review", {"focus": "kits"})
    return out


def dump(value) -> str:
    return value.model_dump_json(by_alias=True) if hasattr(value, "model_dump_json") else json.dumps(value, default=str)


def check_exercise(out: dict, settings, fixture) -> None:
    # The registry's full set, with Claude's names, descriptions and input schemas unchanged.
    expected = {d["name"]: d for d in tool_definitions()}
    served = {t.name: t for t in out["tools"]}
    assert list(served) == list(expected)
    for name, tool in served.items():
        assert tool.description == expected[name]["description"]
        assert tool.input_schema == json.loads(json.dumps(expected[name]["input_schema"])), name
        assert tool.annotations.read_only_hint is True
    assert {name for name, _, _ in out["calls"]} == set(expected)

    # Same answers as in-process (the campaign's summary differs only by the export sentence).
    from sql import Database

    ctx = ToolContext(db=Database(settings.database_url, migrate=False), settings=settings, cache=Cache(None))
    try:
        for name, arguments, result in out["calls"]:
            assert not result.is_error, (name, arguments, result.content)
            assert result.structured_content["tool"] == name
            assert result.content[0].text == result.structured_content["summary"]
            if name in ("analyze_customers", "lookup_customer", "segment_info", "store_metrics"):
                direct = run_tool(ctx, name, arguments).model_dump(mode="json")
                assert result.structured_content == direct, name
            if name == "target_campaign":
                assert result.structured_content["export_path"] is None
                assert "exported" not in result.content[0].text
    finally:
        ctx.db.close()
    lookup = next(r for n, a, r in out["calls"] if n == "lookup_customer")
    assert fixture.public_ids["S001"] in dump(lookup)

    # Mistakes are tool errors with the registry's message, not crashes.
    bad = out["bad_argument"]
    assert bad.is_error and "sort_by" in bad.content[0].text and "Invalid arguments for analyze_customers" in bad.content[0].text
    assert out["extra_argument"].is_error and "email" in out["extra_argument"].content[0].text
    unknown = out["unknown_customer"]
    assert unknown.is_error and "C-00000000" in unknown.content[0].text
    assert out["unknown_tool"].is_error and "drop_tables" in out["unknown_tool"].content[0].text

    # Resources and the prompt.
    uris = set(out["read"])
    assert uris == {"customer-intel://run/current", "customer-intel://segments", "customer-intel://archetypes"}
    run = json.loads(out["read"]["customer-intel://run/current"].contents[0].text)
    assert run["run_id"] and run["as_of"].startswith("2024-06-30") and run["summary"]
    assert json.loads(out["read"]["customer-intel://archetypes"].contents[0].text)["tool"] == "segment_info"
    assert json.loads(out["read"]["customer-intel://segments"].contents[0].text)["tool"] == "analyze_segments"
    assert [p.name for p in out["prompts"]] == ["weekly_customer_review"]
    text = out["prompt"].messages[0].content.text
    assert "store_metrics" in text and "kits" in text

    # No name, email, phone or store id of any fixture customer in anything returned (the store
    # id S002 was an argument: answers show the C- id instead).
    everything = " ".join(dump(v) for key, v in out.items() if key != "calls")
    everything += " ".join(dump(r) for _, _, r in out["calls"])
    for secret in pii_strings() + list(CUSTOMERS):
        assert secret.lower() not in everything.lower(), secret

    # Read-only: no campaign list (with emails) was written anywhere under DATA_DIR.
    assert not list(Path(settings.data_dir).rglob("campaign-*.csv"))


# --- stdio --------------------------------------------------------------------------------------

def stdio_parameters(settings) -> StdioServerParameters:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_", "MCP_"))}
    env.pop("REDIS_URL", None)
    env.update(DATABASE_URL=settings.database_url, PSEUDONYM_SECRET="test-pseudonym-secret",
               DATA_DIR=str(settings.data_dir), LOG_LEVEL="INFO")
    return StdioServerParameters(command=sys.executable, args=["app.py", "mcp"], cwd=str(ROOT), env=env)


def test_stdio_serves_the_registry_read_only_without_personal_data(store, tmp_path):
    settings, fixture = store
    errlog = (tmp_path / "stderr.log").open("w+")

    async def main() -> dict:
        async with stdio_client(stdio_parameters(settings), errlog=errlog) as (read, write):
            async with ClientSession(read, write) as session:
                return await exercise(session, fixture)

    out = anyio.run(main)
    check_exercise(out, settings, fixture)
    errlog.seek(0)
    assert "MCP over stdio" in errlog.read()   # logs went to stderr; stdout carried only JSON-RPC


def test_stdio_stdout_carries_only_json_rpc(store):
    """Raw: every line `python app.py mcp` writes to stdout is a JSON-RPC message (logs at INFO
    included go to stderr), and it exits when stdin closes."""
    import subprocess

    settings, _ = store
    params = stdio_parameters(settings)
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize",
         "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
        {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": "store_metrics", "arguments": {}}},
    ]
    server = subprocess.Popen([sys.executable, *params.args], cwd=params.cwd, env=params.env, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        server.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        server.stdin.flush()
        replies = []
        while {r.get("id") for r in replies} < {1, 2, 3}:   # stdin stays open until the call is answered
            line = server.stdout.readline()
            assert line, server.stderr.read()
            replies.append(json.loads(line))                # anything but JSON fails here
        server.stdin.close()
        rest, errors = server.stdout.read(), server.stderr.read()   # until it exits on end of input
        server.wait(60)
    finally:
        if server.poll() is None:
            server.kill()
    assert server.returncode == 0, errors
    replies += [json.loads(line) for line in rest.splitlines() if line.strip()]
    assert all(r.get("jsonrpc") == "2.0" for r in replies)
    assert "MCP over stdio" in errors


# --- streamable HTTP ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def served(store):
    from sql import Database
    from tests.test_slack_support import ServedApp
    from wiring.web import build_web_app

    settings, fixture = store
    db = Database(settings.database_url, migrate=False)
    web = build_web_app(settings, db, background=False)
    with ServedApp(web) as app:
        yield app, settings, fixture
    db.close()


async def http_session(url: str, token: str | None, body):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with create_mcp_http_client(headers=headers) as client:
        async with streamable_http_client(url, http_client=client) as (read, write):
            async with ClientSession(read, write) as session:
                return await body(session)


def test_http_serves_the_registry_behind_the_token(served):
    app, settings, fixture = served
    out = anyio.run(http_session, app.url + "/mcp", TOKEN, lambda s: exercise(s, fixture))
    check_exercise(out, settings, fixture)


def test_http_without_or_with_a_wrong_token_is_401(served):
    app, _, _ = served
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}}
    accept = {"Accept": "application/json, text/event-stream"}
    for path in ("/mcp", "/mcp/"):
        assert httpx.post(app.url + path, json=init, headers=accept).status_code == 401
        wrong = httpx.post(app.url + path, json=init, headers={**accept, "Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"].startswith("Bearer")
        assert httpx.post(app.url + path, json=init, headers={**accept, "Authorization": TOKEN}).status_code == 401
    # The right token gets through on the exact path: no 307 to /mcp/.
    ok = httpx.post(app.url + "/mcp", json=init, headers={**accept, "Authorization": f"Bearer {TOKEN}"})
    assert ok.status_code == 200, ok.text
    # The SDK's client with a wrong token fails to connect.
    with pytest.raises(BaseException):
        anyio.run(http_session, app.url + "/mcp", "wrong-token", lambda s: s.initialize())


def test_no_mcp_route_without_a_token(store):
    from starlette.testclient import TestClient

    from sql import Database
    from wiring.web import build_web_app

    settings, _ = store
    db = Database(settings.database_url, migrate=False)
    try:
        web = build_web_app(settings.model_copy(update={"mcp_token": None}), db, background=False)
        with TestClient(web) as client:
            assert client.post("/mcp", json={}, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404
    finally:
        db.close()


def test_rate_limiter_limits_a_client_and_frees_its_window():
    from analytics.limits import RateLimiter

    now = [0.0]
    limiter = RateLimiter("mcp", 3, 60.0, clock=lambda: now[0])
    assert [limiter.check("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.check("a") == pytest.approx(60.0)
    assert limiter.check("b") == 0.0                      # per client
    now[0] += 30.0
    assert limiter.check("a") == pytest.approx(30.0)      # a sliding window: the oldest frees first
    now[0] += 30.0
    assert limiter.check("a") == 0.0


def test_http_rate_limit_answers_429(store):
    from starlette.testclient import TestClient

    from sql import Database
    from wiring.web import build_web_app

    settings, _ = store
    db = Database(settings.database_url, migrate=False)
    try:
        web = build_web_app(settings.model_copy(update={"mcp_requests_per_minute": 2}), db, background=False)
        with TestClient(web) as client:
            auth = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json, text/event-stream"}
            codes = [client.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=auth).status_code
                     for _ in range(3)]
            assert 429 not in codes[:2] and codes[2] == 429
    finally:
        db.close()


# --- read-only in-process -----------------------------------------------------------------------

def test_campaign_writes_its_file_in_slack_but_not_read_only(store):
    from analytics.tools.registry import registry
    from mcp_server.server import call_tool, read_only
    from sql import Database

    settings, _ = store
    db = Database(settings.database_url, migrate=False)
    try:
        ctx = ToolContext(db=db, settings=settings.model_copy(update={"data_dir": settings.data_dir / "slack"}),
                          cache=Cache(None))
        exports = Path(ctx.settings.data_dir) / "exports"
        slack = run_tool(ctx, "target_campaign", {"campaign": "vip"})
        assert slack.export_path and len(list(exports.glob("campaign-*.csv"))) == 1
        assert slack.summary.endswith("exported for the marketing tool.")
        over_mcp = call_tool(read_only(ctx), registry(), "target_campaign", {"campaign": "vip"})
        assert not over_mcp.is_error and over_mcp.structured_content["export_path"] is None
        assert len(list(exports.glob("campaign-*.csv"))) == 1
        assert ctx.writes_exports is True                 # the surface's copy, not the shared context
    finally:
        db.close()
