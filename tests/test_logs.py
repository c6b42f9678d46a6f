"""Logs (operations issue, item 2): JSON lines off a terminal and readable text on one, LOG_FORMAT
forcing either; one correlation id per Slack request, webhook, MCP call and worker job, carried
into tool calls and outbound API calls (Slack Web API, Anthropic, Gorgias) across the threads the
work hops through; and the session's log-privacy check catching a planted leak."""
from __future__ import annotations

import io
import json
import logging
import time

import pytest
from observability.logs import CorrelationFilter, configure_logging, correlated, use_json
from tests import fake_anthropic as fa
from tests.analytics_fixture import CUSTOMERS, analytics_db, ctx, loaded  # noqa: F401 - fixtures
from tests.fake_anthropic import FakeAnthropic
from tests.log_privacy import leaks
from tests.test_gorgias_pipeline import env, new_ids, post, wait_finished  # noqa: F401 - fixtures
from tests.fake_gorgias import ticket_payload
from tests.test_slack_support import Harness


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def restore_root():
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)


@pytest.fixture
def records():
    """(logger, correlation id, message) of every record while the test runs, DEBUG included."""
    found: list[tuple[str, str, str]] = []

    class Keep(logging.Handler):
        def emit(self, record):
            found.append((record.name, record.correlation_id, record.getMessage()))

    handler = Keep(logging.DEBUG)
    handler.addFilter(CorrelationFilter())
    names = ("", "anthropic", "httpx", "slack_sdk", "analytics", "gorgias", "bot")
    levels = {name: logging.getLogger(name).level for name in names}
    for name in names:
        logging.getLogger(name).setLevel(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    yield found
    logging.getLogger().removeHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


# --- format --------------------------------------------------------------------------------------------

def test_json_lines_off_a_terminal_with_the_correlation_id(restore_root):
    out = io.StringIO()
    configure_logging("INFO", None, stream=out)
    with correlated("cli-test0001"):
        logging.getLogger("cib.test").info("imported %d rows", 12)
    logging.getLogger("cib.test").warning("outside any request")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["message"] == "imported 12 rows" and first["correlation_id"] == "cli-test0001"
    assert first["level"] == "INFO" and first["logger"] == "cib.test" and first["time"]
    assert second["correlation_id"] == "-"


def test_a_second_configuration_replaces_the_first_and_keeps_other_handlers(restore_root):
    """An in-process command (a test's app.main, an embedding program) must not unplug handlers it
    did not install, such as this session's log-privacy capture."""
    kept = logging.NullHandler()
    logging.getLogger().addHandler(kept)
    first, second = io.StringIO(), io.StringIO()
    configure_logging("INFO", "json", stream=first)
    configure_logging("INFO", "json", stream=second)
    logging.getLogger("cib.test").info("once")
    assert first.getvalue() == "" and json.loads(second.getvalue())["message"] == "once"
    assert kept in logging.getLogger().handlers


def test_text_on_a_terminal_and_log_format_forces_either(restore_root):
    terminal = _Terminal()
    configure_logging("INFO", "auto", stream=terminal)
    with correlated("http-abc"):
        logging.getLogger("cib.test").info("hello")
    line = terminal.getvalue().strip()
    assert line.endswith("INFO cib.test [http-abc] hello") and not line.startswith("{")
    assert use_json("json", _Terminal()) and not use_json("text", io.StringIO())
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        use_json("yaml", io.StringIO())


def test_log_format_is_a_validated_setting():
    from settings import SettingsError, load_settings

    assert load_settings(log_format="json", _env_file=None).log_format == "json"
    with pytest.raises(SettingsError, match="LOG_FORMAT"):
        load_settings(log_format="yaml", _env_file=None)


# --- correlation ------------------------------------------------------------------------------------

def test_a_slack_question_carries_its_event_id_into_the_tools_and_the_outbound_calls(loaded, ctx, settings,
                                                                                       records):
    db, _ = loaded
    h = Harness(settings, db, real_analytics=True, ctx=ctx)
    try:
        ts = f"{time.time():.6f}"
        h.event({"type": "app_mention", "user": "U0ALICE", "text": "<@UBOT> who is most likely to churn?",
                 "ts": ts, "channel": "C0GENERAL", "event_ts": ts}, event_id="EvCORRELATE1")
        h.fake.wait_for("chat.update", timeout=20)
    finally:
        h.close()
    mine = [(name, message) for name, cid, message in records if cid == "slack-EvCORRELATE1"]
    assert any(name == "analytics.tools.registry" and "analyze_customers: ok" in m for name, m in mine)
    sent = [m for name, m in mine if name.startswith("slack_sdk") and "Sending a request" in m]
    assert any("chat.postMessage" in m for m in sent) and any("chat.update" in m for m in sent)
    # Lines about this request never carry another id.
    assert not [m for name, cid, m in records if "EvCORRELATE1" in m and cid not in ("slack-EvCORRELATE1", "-")]


def test_claude_calls_made_for_a_slack_question_carry_its_id(loaded, settings, records):
    from analytics.core import ToolContext
    from analytics.router import Router
    from settings import load_settings
    from wiring import claude_client

    db, _ = loaded
    with FakeAnthropic(script=[fa.end_turn("Nobody is at risk this week.")]) as fake:
        claude_settings = load_settings(database_url=db.url, data_dir=settings.data_dir, pseudonym_secret="x",
                                        anthropic_api_key="sk-correlation-test", anthropic_base_url=fake.url,
                                        anthropic_max_retries=0, _env_file=None)
        router = Router(ToolContext(db=db, settings=claude_settings), client=claude_client(claude_settings))
        h = Harness(settings, db, router=router)
        try:
            ts = f"{time.time():.6f}"
            h.event({"type": "app_mention", "user": "U0ALICE", "text": "<@UBOT> anyone at risk?", "ts": ts,
                     "channel": "C0GENERAL", "event_ts": ts}, event_id="EvCLAUDE0001")
            h.fake.wait_for("chat.update", timeout=20)
        finally:
            h.close()
    claude_lines = [(cid, m) for name, cid, m in records if name.startswith("anthropic") and "/v1/messages" in m]
    assert claude_lines and all(cid == "slack-EvCLAUDE0001" for cid, _ in claude_lines)


def test_a_webhook_answers_with_its_request_id_and_the_worker_logs_under_the_events_id(env, records):
    ticket_id, message_id = new_ids()
    customer_email = CUSTOMERS["S002"][1]
    given = post(env, ticket_payload(ticket_id, message_id, sender_email=customer_email),
                 headers={"X-Request-Id": "gorgias-delivery-42"})
    assert given.status_code == 200 and given.headers["x-request-id"] == "gorgias-delivery-42"
    event_id = given.json()["event_id"]
    wait_finished(env, ticket_id)
    note_posts = [cid for name, cid, m in records
                  if name == "httpx" and f"/api/tickets/{ticket_id}/messages" in m and "POST" in m]
    assert note_posts and set(note_posts) == {f"gorgias-event-{event_id}"}
    queued = [cid for name, cid, m in records if name == "gorgias.webhook" and m.endswith(f"as event {event_id}")]
    assert queued == ["gorgias-delivery-42"]          # the line that ties the delivery to the worker's id
    junk = post(env, ticket_payload(*new_ids()), headers={"X-Request-Id": "x" * 200 + " {injected}"})
    assert junk.headers["x-request-id"].startswith("http-") and len(junk.headers["x-request-id"]) < 30


def test_mcp_tool_calls_run_under_their_own_id(loaded, settings, records):
    import anyio
    import mcp_types as types

    from analytics.core import ToolContext
    from mcp_server.server import build_server

    db, _ = loaded
    server = build_server(ToolContext(db=db, settings=settings))
    call_handler = server._request_handlers["tools/call"].handler   # the SDK's dispatch target for tools/call
    params = types.CallToolRequestParams(name="analyze_customers", arguments={"sort_by": "churn_risk"})

    async def two_calls():
        for _ in range(2):
            await call_handler(None, params)

    anyio.run(two_calls)
    ids = [cid for name, cid, m in records if name == "analytics.tools.registry"]
    assert len(ids) == 2 and all(cid.startswith("mcp-") for cid in ids) and ids[0] != ids[1]


# --- the privacy check itself -----------------------------------------------------------------------

def test_the_privacy_check_names_logger_and_kind_never_the_value():
    name, email, phone, _ = CUSTOMERS["S004"]
    found = leaks([("cib.quiet", "all fine"), ("gorgias.worker", f"no customer for {email}"),
                   ("bot.answering", f"asked about {name}"), ("discovery.importer", f"row 3: phone {phone}"),
                   ("anthropic._base_client", "headers x-api-key: sk-planted-secret"),
                   ("bot.app", "answered Linda Garcia"), ("gorgias.client", "ok")],
                  {"sk-planted-secret": "ANTHROPIC_API_KEY"})
    assert found == ["anthropic._base_client: secret ANTHROPIC_API_KEY", "bot.answering: customer name (fixture)",
                     "bot.app: customer name (synthetic store)", "discovery.importer: customer phone (fixture)",
                     "gorgias.worker: customer email (fixture)"]
    assert not any(email in line or name in line or "sk-planted" in line for line in found)


def test_anthropic_request_bodies_are_dropped_from_debug_lines():
    from observability.logs import OutboundBodyFilter

    record = logging.LogRecord("anthropic._base_client", logging.DEBUG, __file__, 1, "Request options: %s",
                               ({"method": "post", "url": "/v1/messages",
                                 "json_data": {"messages": [{"content": "Oliver Brandt wrote"}]}},), None)
    OutboundBodyFilter().filter(record)
    assert record.getMessage() == "Request options: post /v1/messages"


def test_a_cli_command_logs_json_lines_under_one_cli_id(fresh_database_url, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    child_env = {k: v for k, v in os.environ.items() if not k.startswith(("LOG_", "SLACK_", "GORGIAS_", "ANTHROPIC_"))}
    child_env.update(DATABASE_URL=fresh_database_url(migrated=False), DATA_DIR=str(tmp_path), PYTHONPATH=str(root))
    done = subprocess.run([sys.executable, "app.py", "--log-level", "INFO", "migrate"], cwd=root, env=child_env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stderr.splitlines() if line.strip()]
    applied = [line for line in lines if line["message"].startswith("applied migration")]
    assert len(applied) >= 10 and {line["logger"] for line in applied} == {"sql.migrate"}
    ids = {line["correlation_id"] for line in lines}
    assert len(ids) == 1 and ids.pop().startswith("cli-")
    text = subprocess.run([sys.executable, "app.py", "--log-level", "INFO", "migrate"], cwd=root,
                          env={**child_env, "LOG_FORMAT": "text", "DATABASE_URL": fresh_database_url(migrated=False)},
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and " INFO sql.migrate [cli-" in text.stderr and "{" not in text.stderr
