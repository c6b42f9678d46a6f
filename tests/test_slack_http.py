"""The real Bolt app in HTTP mode, inside the real web app served by uvicorn on loopback, talking
to the loopback fake Slack Web API. Requests are signed like Slack signs them."""
from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from bot.views import blocks as bk
from tests.test_slack_support import Harness, ScriptedRouter, event_body


@pytest.fixture
def harness(settings, db):
    h = Harness(settings, db)
    yield h
    h.close()


def _mention(ts="1700000000.000100", channel="C0GENERAL", text="<@UBOT> who is most likely to churn?", **extra):
    return {"type": "app_mention", "user": "U0ALICE", "text": text, "ts": ts, "channel": channel,
            "event_ts": ts, **extra}


def test_app_mention_answered_in_thread_replacing_placeholder(harness):
    response = harness.event(_mention())
    assert response.status_code == 200
    update = harness.fake.wait_for("chat.update")[0].args
    placeholder = harness.fake.calls_to("chat.postMessage")[0].args
    assert placeholder["thread_ts"] == "1700000000.000100" and placeholder["channel"] == "C0GENERAL"
    assert "Looking into it" in placeholder["text"]
    assert update["channel"] == "C0GENERAL" and update["ts"] != placeholder["thread_ts"]
    assert bk.check_message_limits(update["blocks"]) == []
    assert any(b["type"] == "table" for b in update["blocks"]) and update["text"]
    question, thread_key, user = harness.router.questions[0]
    assert question == "who is most likely to churn?"
    assert thread_key == "slack:C0GENERAL:1700000000.000100" and user == "U0ALICE"


def test_mention_inside_a_thread_keeps_the_thread(harness):
    harness.event(_mention(ts="1700000001.000200", thread_ts="1700000000.000100", text="<@UBOT> and last quarter?"))
    harness.fake.wait_for("chat.update")
    assert harness.fake.calls_to("chat.postMessage")[0].args["thread_ts"] == "1700000000.000100"
    assert harness.router.questions[0][1] == "slack:C0GENERAL:1700000000.000100"


def test_direct_message_answered_with_status(harness):
    event = {"type": "message", "channel_type": "im", "channel": "D0ALICE", "user": "U0ALICE",
             "text": "forecast revenue", "ts": "1700000002.000300", "thread_ts": "1700000000.000001"}
    assert harness.event(event).status_code == 200
    answer = harness.fake.wait_for("chat.postMessage")[0].args
    status = harness.fake.calls_to("assistant.threads.setStatus")[0].args
    assert status["channel_id"] == "D0ALICE" and status["thread_ts"] == "1700000000.000001"
    # The status shows progress in the assistant pane; no placeholder message to replace.
    assert answer["thread_ts"] == "1700000000.000001" and harness.fake.calls_to("chat.update") == []
    charts = [b for b in answer["blocks"] if b["type"] == "data_visualization"]
    assert len(charts) == 1 and bk.check_chart(charts[0]) == []


def test_plain_dm_without_assistant_status_gets_a_placeholder(harness):
    harness.fake.fail_method("assistant.threads.setStatus", "not_allowed_token_type")
    event = {"type": "message", "channel_type": "im", "channel": "D0ALICE", "user": "U0ALICE",
             "text": "top customers", "ts": "1700000002.000500", "thread_ts": "1700000000.000002"}
    harness.event(event)
    update = harness.fake.wait_for("chat.update")[0].args
    placeholder = harness.fake.calls_to("chat.postMessage")[0].args
    assert "Looking into it" in placeholder["text"] and update["ts"] != placeholder["thread_ts"]


def test_bot_and_own_messages_and_edits_are_ignored(harness):
    base = {"type": "message", "channel_type": "im", "channel": "D0ALICE", "ts": "1700000003.000400"}
    assert harness.event(_mention(bot_id="BOTHER")).status_code == 200   # another bot mentioning us
    for event in (dict(base, bot_id="BOTHER", user="UOTHER", text="hello"),
                  dict(base, user="UBOT", text="my own words"),
                  dict(base, subtype="message_changed", message={"text": "edited"})):
        assert harness.event(event).status_code == 200
    time.sleep(0.5)
    assert harness.router.questions == []
    assert harness.fake.calls_to("chat.postMessage") == []


def test_retried_event_is_answered_once(harness):
    event_id = f"EvRetry{uuid.uuid4().hex[:8]}"
    assert harness.event(_mention(), event_id=event_id).status_code == 200
    retry = harness.event(_mention(), event_id=event_id,
                          headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert retry.status_code == 200
    harness.fake.wait_for("chat.update")
    time.sleep(0.5)
    assert len(harness.router.questions) == 1
    assert len(harness.fake.calls_to("chat.update")) == 1


def test_bad_signature_and_stale_timestamp_are_rejected(harness):
    body = event_body(_mention(), "EvBad1")
    assert harness.post(body, secret="not-the-secret").status_code == 401
    assert harness.post(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    unsigned = harness.http.post("/slack/events", content=body, headers={"Content-Type": "application/json"})
    assert unsigned.status_code == 401
    time.sleep(0.3)
    assert harness.router.questions == []


def test_forecast_command_posts_a_native_chart(harness):
    response = harness.command("/forecast", "revenue next quarter")
    assert response.status_code == 200
    post = harness.fake.wait_for("chat.postMessage")[0].args
    assert post["channel"] == "C0GENERAL" and post["text"]
    chart = next(b for b in post["blocks"] if b["type"] == "data_visualization")
    assert bk.check_chart(chart) == []
    assert [s["name"] for s in chart["chart"]["series"]] == ["History", "Forecast", "Lower 80%", "Upper 80%"]
    assert harness.tools.calls == [("forecast_metrics", {"metric": "revenue", "horizon": 3, "unit": "months"})]


def test_forecast_falls_back_to_png_on_invalid_blocks(harness):
    harness.fake.reject_blocks("data_visualization")
    harness.command("/forecast", "orders 12w")
    harness.fake.wait_for("files.completeUploadExternal")
    rejected, resent = (c.args for c in harness.fake.calls_to("chat.postMessage")[:2])
    assert any(b["type"] == "data_visualization" for b in rejected["blocks"])
    assert not any(b["type"] == "data_visualization" for b in resent["blocks"])
    assert "image below" in json.dumps(resent["blocks"])
    upload = harness.fake.calls_to("upload")[0].args
    png = harness.fake.uploads[upload["file_id"]]
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    complete = harness.fake.calls_to("files.completeUploadExternal")[0].args
    assert complete["channel_id"] == "C0GENERAL"
    assert harness.tools.calls[0][1] == {"metric": "orders", "horizon": 12, "unit": "weeks"}


def test_command_help_and_bad_arguments_answered_in_the_ack(harness):
    for command in ("/forecast", "/churn-check", "/segment-info"):
        response = harness.command(command, "help")
        assert response.status_code == 200 and command in response.text
    bad = harness.command("/forecast", "bananas 3w")
    assert "bananas" in bad.text
    bad_period = harness.command("/forecast", "revenue 900d")
    assert "900d" in bad_period.text and "out of range" in bad_period.text
    time.sleep(0.3)
    assert harness.tools.calls == []


def test_churn_check_card_list_and_unknown_customer(harness):
    harness.command("/churn-check", "C-1A2B3C4D")
    post = harness.fake.wait_for("chat.postMessage")[0].args
    assert "C-1A2B3C4D" in json.dumps(post["blocks"])
    harness.command("/churn-check", "")
    harness.fake.wait_for("chat.postMessage", count=2)
    assert [c[0] for c in harness.tools.calls] == ["lookup_customer", "analyze_customers"]
    harness.command("/churn-check", "C-UNKNOWN0")
    reply = harness.fake.wait_for("response_url")[0].args
    assert "C-UNKNOWN0" in reply["text"] and reply["response_type"] == "ephemeral"


def test_segment_info_without_name_shows_overview_and_archetypes(harness):
    harness.command("/segment-info", "")
    harness.fake.wait_for("chat.postMessage", count=2)
    assert [c[0] for c in harness.tools.calls] == ["analyze_segments", "segment_info"]


def test_command_in_channel_without_the_bot_answers_privately(harness):
    harness.fake.not_in_channel("C0PRIVATE")
    harness.command("/churn-check", "C-1A2B3C4D", channel="C0PRIVATE")
    reply = harness.fake.wait_for("response_url")[0].args
    assert reply["response_type"] == "ephemeral" and "C-1A2B3C4D" in json.dumps(reply["blocks"])


def test_show_more_and_export_csv(harness):
    value = json.dumps({"tool": "analyze_customers", "arguments": {"sort_by": "churn_risk", "limit": 10, "offset": 10}})
    harness.action({"action_id": "show_more", "block_id": "b1", "type": "button", "value": value})
    post = harness.fake.wait_for("chat.postMessage")[0].args
    assert post["thread_ts"] == "1700000000.000100" and "C-0000000A" in json.dumps(post["blocks"])
    harness.action({"action_id": "export_csv", "block_id": "b2", "type": "button", "value": value})
    harness.fake.wait_for("files.completeUploadExternal")
    upload = harness.fake.calls_to("upload")[0].args
    csv_text = harness.fake.uploads[upload["file_id"]].decode()
    lines = csv_text.strip().splitlines()
    assert lines[0].startswith("public_id,") and len(lines) == 11 and "C-0000000A" in lines[1]
    complete = harness.fake.calls_to("files.completeUploadExternal")[0].args
    assert complete["thread_ts"] == "1700000000.000100"


def test_feedback_stored_and_reason_asked_on_thumbs_down(harness, db):
    ts = f"1700000{uuid.uuid4().int % 1000:03d}.000100"
    feedback = {"action_id": "answer_feedback", "block_id": "feedback|analyze_customers|offline",
                "type": "feedback_buttons", "value": "negative"}
    harness.action(feedback, message_ts=ts)
    modal = harness.fake.wait_for("views.open")[0].args
    assert modal["view"]["callback_id"] == "feedback_reason" and modal["trigger_id"] == "trig-1"
    submission = {"type": "view_submission", "team": {"id": "T0FAKE"}, "user": {"id": "U0ALICE"},
                  "api_app_id": "A0FAKE", "view": {"id": "V1", "type": "modal", "callback_id": "feedback_reason",
                  "private_metadata": modal["view"]["private_metadata"],
                  "state": {"values": {"reason": {"reason_text": {"type": "plain_text_input", "value": "wrong segment"}}}}}}
    from urllib.parse import urlencode
    response = harness.post(urlencode({"payload": json.dumps(submission)}), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200
    with db.connection() as conn:
        row = conn.execute("SELECT rating, reason, tool, source FROM slack_feedback WHERE message_ts = %s", (ts,)).fetchone()
    assert row == ("negative", "wrong segment", "analyze_customers", "offline")
    harness.action(dict(feedback, value="positive"), message_ts=ts)
    harness.fake.wait_for("chat.postEphemeral")
    with db.connection() as conn:
        rows = conn.execute("SELECT rating FROM slack_feedback WHERE message_ts = %s", (ts,)).fetchall()
    assert rows == [("positive",)]                                  # the vote changed, not doubled


def test_ratelimited_call_is_retried_after_retry_after(harness):
    harness.fake.ratelimit("chat.postMessage", 1)
    harness.event(_mention())
    harness.fake.wait_for("chat.update")
    limited = harness.fake.calls_to("chat.postMessage:ratelimited")
    posted = harness.fake.calls_to("chat.postMessage")
    assert len(limited) == 1 and len(posted) == 1
    assert posted[0].at - limited[0].at >= 0.9                     # waited for Retry-After: 1


def test_router_failure_replaces_placeholder_with_error(settings, db):
    h = Harness(settings, db, router=ScriptedRouter(fail=True))
    try:
        h.event(_mention())
        update = h.fake.wait_for("chat.update")[0].args
        assert "Sorry" in update["text"] and "exploded" not in update["text"]
        assert len(h.fake.calls_to("chat.postMessage")) == 1
    finally:
        h.close()


def test_allow_list_outside_says_not_enabled(settings, db):
    h = Harness(settings, db, slack_allowed_channels=["C0ALLOWED"])
    try:
        h.event(_mention(channel="C0OTHER"))
        post = h.fake.wait_for("chat.postMessage")[0].args
        assert "not enabled" in post["text"] and "C0OTHER" in post["text"]
        assert h.router.questions == []
        response = h.command("/forecast", "", channel="C0OTHER")
        assert "not enabled" in response.text
        h.event(_mention(channel="C0ALLOWED", ts="1700000009.000100"))
        h.fake.wait_for("chat.update")
        assert len(h.router.questions) == 1
    finally:
        h.close()


def test_home_tab_published(harness):
    event = {"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home",
             "event_ts": "1700000000.000500"}
    assert harness.event(event).status_code == 200
    view = harness.fake.wait_for("views.publish")[0].args
    assert view["user_id"] == "U0ALICE" and view["view"]["type"] == "home"
    assert bk.check_message_limits(view["view"]["blocks"], max_blocks=bk.MAX_HOME_BLOCKS) == []


def test_home_button_asks_in_the_dm(harness):
    harness.action({"action_id": "run_question_0", "block_id": "b", "type": "button",
                    "value": "Who is most likely to churn?"}, channel=None, view=True)
    update = harness.fake.wait_for("chat.update")[0].args
    first = harness.fake.calls_to("chat.postMessage")[0].args
    assert first["channel"] == "U0ALICE" and "Who is most likely to churn?" in first["text"]
    assert update["channel"] == "D0ALICE"
    assert harness.router.questions[0][1].startswith("slack:D0ALICE:")


def test_health_and_metrics(harness):
    assert harness.http.get("/health").json()["status"] == "ok"
    acks = f'cib_slack_ack_seconds_count{{listener="app_mention"}} '
    # The metrics are the process's: other tests' mentions counted before this one.
    before = re.search(re.escape(acks) + r"(\S+)", harness.http.get("/metrics").text)
    before = float(before.group(1)) if before else 0.0
    harness.event(_mention())
    harness.fake.wait_for("chat.update")
    deadline = time.monotonic() + 5  # the answer is counted just after its message is sent
    while 'cib_slack_answers_total{source="offline"}' not in (metrics := harness.http.get("/metrics").text):
        assert time.monotonic() < deadline, metrics
        time.sleep(0.05)
    assert 'cib_http_requests_total{path="/slack/events",status="200"}' in metrics
    assert "cib_http_request_seconds_bucket" in metrics
    assert f"{acks}{before + 1}" in metrics


def test_workspace_without_table_blocks_gets_text_tables(harness):
    harness.fake.reject_blocks("table")
    harness.fake.reject_blocks("context_actions")
    harness.event(_mention())
    updates = harness.fake.wait_for("chat.update", count=2)
    rejected, accepted = updates[0].args, updates[1].args
    assert any(b["type"] == "table" for b in rejected["blocks"])
    types = {b["type"] for b in accepted["blocks"]}
    assert "table" not in types and "context_actions" not in types
    text = json.dumps(accepted["blocks"])
    assert "C-00000000" in text and "answer_feedback_negative" in text   # rows as text, 👎 as a button
    assert accepted["text"]


def test_mention_help_lists_what_the_bot_does(harness):
    harness.event(_mention(text="<@UBOT> help"))
    post = harness.fake.wait_for("chat.postMessage")[0].args
    text = json.dumps(post["blocks"])
    assert post["thread_ts"] == "1700000000.000100" and "/churn-check" in text and "/forecast" in text
    assert harness.router.questions == []
