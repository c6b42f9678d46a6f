"""`route`, `ask` and `chat` end to end on the small analytics fixture store with the real tools and
the offline router: JSON shapes, stdin batch routing, rendered tables, thread memory in chat, the
store's own segment/archetype names, and no personal data in anything printed."""
from __future__ import annotations

import io
import json

import pytest

from bot.console import ask_cli, route_cli, run_chat
from wiring import claude_client, open_services
from tests.analytics_fixture import analytics_db, loaded, pii_strings  # noqa: F401


@pytest.fixture(scope="module")
def store_settings(loaded, settings):
    db, fixture = loaded
    return settings.model_copy(update={"database_url": db.url, "anthropic_api_key": None}), fixture


def run(fn, settings, *args, **kwargs) -> tuple[int, str]:
    """A console command on a router the composition root builds from `settings`."""
    out = io.StringIO()
    with open_services(settings) as services:
        code = fn(services.router(), *args, stdout=out, **kwargs)
    return code, out.getvalue()


def test_route_prints_the_tool_call(store_settings):
    settings, _ = store_settings
    code, out = run(route_cli, settings, "top 3 customers by value")
    assert code == 0
    assert json.loads(out) == {"tool": "analyze_customers", "arguments": {"sort_by": "value", "limit": 3}}


def test_route_reads_questions_from_stdin(store_settings):
    settings, _ = store_settings
    questions = "who's about to churn?\n\ntell me about the loyal big spenders\nwhat's the weather\ncustomers\n"
    code, out = run(route_cli, settings, "-", stdin=io.StringIO(questions))
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 4
    assert lines[0] == {"tool": "analyze_customers", "arguments": {"sort_by": "value_at_stake", "lifecycle": "at_risk"}}
    # the archetype name comes from the store's current discovery run
    assert lines[1] == {"tool": "segment_info", "arguments": {"name": "Loyal big spenders"}}
    assert "refusal" in lines[2]
    assert lines[3]["clarification"] and len(lines[3]["options"]) == 5


def test_ask_json_runs_the_tool_and_keeps_pii_out(store_settings):
    settings, fixture = store_settings
    code, out = run(ask_cli, settings, "top 3 customers by value", as_json=True)
    data = json.loads(out)
    assert code == 0
    assert data["tool"] == "analyze_customers" and data["source"] == "offline"
    assert "offline router" in data["answer"]
    rows = next(v for v in data["result"].values() if isinstance(v, list) and v and isinstance(v[0], dict))
    assert len(rows) == 3
    assert rows[0]["public_id"] == fixture.public_ids["S001"]  # the 12,000 kit buyer
    for secret in pii_strings():
        assert secret.lower() not in out.lower(), secret


def test_ask_renders_text_with_a_table(store_settings):
    settings, fixture = store_settings
    customer = fixture.public_ids["S003"]
    code, out = run(ask_cli, settings, f"look up {customer.lower()}")
    assert code == 0 and customer in out and "offline router" in out
    code, out = run(ask_cli, settings, "top 3 customers by value")
    assert "Public id" in out and fixture.public_ids["S001"] in out and "───" in out
    for secret in pii_strings():
        assert secret.lower() not in out.lower(), secret


def test_ask_and_chat_print_the_same_answer_within_100_columns(store_settings):
    """One renderer: `ask` prints exactly what `chat` prints after "bot> ", every line fits a
    100-column terminal, and Slack's buttons become what to type."""
    settings, _ = store_settings
    question = "top 3 customers by value"
    _, asked = run(ask_cli, settings, question)
    _, chatted = run(run_chat, settings, stdin=io.StringIO(question + "\nquit\n"))
    reply = chatted.split("bot> ", 1)[1]
    as_in_chat = "\n".join(line[5:] if line.startswith("     ") else line for line in reply.splitlines())
    assert as_in_chat.strip() == asked.strip()
    assert max(len(line) for line in chatted.splitlines()) <= 100, [l for l in chatted.splitlines() if len(l) > 100]
    assert 'Type "show more" or "export csv"' in asked and "[Show more]" not in asked


def test_chat_prints_a_clarification_once_and_takes_its_number(store_settings):
    settings, _ = store_settings
    _, out = run(run_chat, settings, stdin=io.StringIO("customers\n1\nquit\n"))
    first, second = out.split("bot> ")[1:3]
    assert first.count("How should I rank the customers?") == 1
    assert first.count("by lifetime value") == 1 and "  2. by lifetime value" in first
    assert "Churn" in second  # option 1 (by churn risk) ran


def test_chat_export_csv_writes_the_last_list(store_settings, tmp_path):
    settings, fixture = store_settings
    settings = settings.model_copy(update={"data_dir": tmp_path})
    _, out = run(run_chat, settings, stdin=io.StringIO("export csv\ntop 3 customers by value\nexport csv\nquit\n"))
    replies = out.split("bot> ")[1:]
    assert "no list to export yet" in replies[0]
    written = list((tmp_path / "exports").glob("analyze_customers-*.csv"))
    assert len(written) == 1 and str(written[0]) in replies[2].replace("\n     ", "")
    assert oct(written[0].stat().st_mode & 0o777) == "0o600"
    text = written[0].read_text()
    assert fixture.public_ids["S001"] in text
    for secret in pii_strings():
        assert secret.lower() not in text.lower(), secret


def test_ask_reports_a_bad_value_by_name(store_settings):
    settings, _ = store_settings
    code, out = run(ask_cli, settings, "look up C-00000000", as_json=True)
    data = json.loads(out)
    assert code == 1 and data["error"] and "C-00000000" in data["error"]


def test_chat_keeps_the_thread(store_settings):
    settings, _ = store_settings
    script = "help\ntop 5 customers by value\nsame for the frequent segment\nquit\n"
    code, out = run(run_chat, settings, stdin=io.StringIO(script))
    assert code == 0 and out.count("bot> ") == 2 and "Follow-ups work" in out
    from sql import Database

    db = Database(settings.database_url, migrate=False)
    try:
        with db.cursor() as cur:
            turns = cur.execute(
                "SELECT tool_calls FROM router_turns WHERE thread_key LIKE 'console:%%' ORDER BY turn_id DESC LIMIT 2"
            ).fetchall()
    finally:
        db.close()
    latest, earlier = turns[0]["tool_calls"][0], turns[1]["tool_calls"][0]
    assert earlier["arguments"] == {"sort_by": "value", "limit": 5}
    assert latest["tool"] == "analyze_customers"
    assert latest["arguments"] == {"sort_by": "value", "limit": 5, "segment": "frequency:frequent"}


def test_claude_path_with_real_tools_sends_no_pii_to_the_model(store_settings):
    from pydantic import SecretStr

    from analytics.router import Router
    from analytics.core import ToolContext
    from tests import fake_anthropic as fa

    settings, fixture = store_settings
    with fa.FakeAnthropic(script=[
        fa.tool_use(("analyze_customers", {"sort_by": "value", "limit": 3}),
                    ("lookup_customer", {"customer": fixture.public_ids["S001"]})),
        fa.end_turn("Your top customer is " + fixture.public_ids["S001"] + "."),
    ]) as fake:
        claude_settings = settings.model_copy(update={"anthropic_api_key": SecretStr("sk-test"), "anthropic_base_url": fake.url,
                                                      "anthropic_max_retries": 0})
        from sql import Database

        store = Database(settings.database_url, migrate=False)
        try:
            answer = Router(ToolContext(db=store, settings=claude_settings), client=claude_client(claude_settings)).answer("who matters most?")
        finally:
            store.close()
    assert answer.source == "claude" and [c.tool for c in answer.tool_calls] == ["analyze_customers", "lookup_customer"]
    assert all(c.result is not None for c in answer.tool_calls), [c.error for c in answer.tool_calls]
    sent = json.dumps(fake.requests[1].body["messages"][-1])
    assert fixture.public_ids["S001"] in sent
    for secret in pii_strings():
        assert secret.lower() not in sent.lower(), secret


def test_app_cli_route_and_ask_in_a_subprocess(store_settings):
    import os
    import subprocess
    import sys
    from pathlib import Path

    settings, fixture = store_settings
    root = Path(__file__).resolve().parents[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_"))}
    env.update(DATABASE_URL=settings.database_url, PSEUDONYM_SECRET="test-pseudonym-secret", LOG_LEVEL="WARNING")

    def app(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "app.py", *args], cwd=root, env=env, input=stdin,
                              capture_output=True, text=True, timeout=120)

    done = app("route", "-", stdin="top 3 customers by value\nwhat's the weather\n")
    assert done.returncode == 0, done.stderr
    first, second = [json.loads(line) for line in done.stdout.splitlines()]
    assert first == {"tool": "analyze_customers", "arguments": {"sort_by": "value", "limit": 3}}
    assert "refusal" in second
    done = app("ask", "top 3 customers by value", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["result"]["tool"] == "analyze_customers"


def test_thread_follow_up_on_a_row_and_a_nul_question_end_to_end(store_settings):
    """A question with a NUL is answered and its turn stored; 'the second one' then looks up the
    second row the list showed, by its public id, on another Router instance."""
    import uuid

    from analytics.router import Router
    from analytics.core import ToolContext
    from sql import Database

    settings, _ = store_settings
    thread = f"console:{uuid.uuid4().hex}"
    store = Database(settings.database_url, migrate=False)
    try:
        first = Router(ToolContext(db=store, settings=settings)).answer("top 3 customers by value\x00", thread)
        listed = [row["public_id"] for row in first.tool_calls[0].result.model_dump()["rows"]]
        assert len(listed) == 3
        with store.cursor() as cur:
            stored = cur.execute("SELECT question FROM router_turns WHERE thread_key = %s", (thread,)).fetchall()
        assert [r["question"] for r in stored] == ["top 3 customers by value"]
        second = Router(ToolContext(db=store, settings=settings)).answer("tell me about the second one", thread)
    finally:
        store.close()
    assert [(c.tool, c.arguments) for c in second.tool_calls] == [("lookup_customer", {"customer": listed[1]})]
    assert second.tool_calls[0].result is not None
