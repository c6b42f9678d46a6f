"""The Slack bot end to end with the real analytics: the real offline router and tools on the
small fixture store, through the real web app and Bolt app, against the fake Slack Web API.
Nothing that reaches Slack may carry a fixture customer's name, email or phone."""
from __future__ import annotations

import json

import pytest

from bot.views import blocks as bk
from tests.analytics_fixture import analytics_db, ctx, loaded, pii_strings  # noqa: F401 - fixtures
from tests.test_slack_support import Harness


@pytest.fixture
def live(loaded, ctx, settings):
    db, fx = loaded
    h = Harness(settings, db, real_analytics=True, ctx=ctx)
    yield h, fx
    h.close()


def _sent_to_slack(fake) -> str:
    return json.dumps([c.args for c in fake.calls] + fake.responses)


def _assert_no_pii(fake) -> None:
    sent = _sent_to_slack(fake)
    leaked = [s for s in pii_strings() if s and s in sent]
    assert leaked == [], f"personal data reached Slack: {leaked}"


def _mention(text: str, ts: str = "1719700000.000100") -> dict:
    return {"type": "app_mention", "user": "U0ALICE", "text": f"<@UBOT> {text}", "ts": ts,
            "channel": "C0GENERAL", "event_ts": ts}


def test_churn_question_answered_from_the_store(live):
    h, fx = live
    h.event(_mention("who is most likely to churn?"))
    update = h.fake.wait_for("chat.update", timeout=20)[0].args
    assert bk.check_message_limits(update["blocks"]) == []
    text = json.dumps(update["blocks"])
    assert any(public_id in text for public_id in fx.public_ids.values())
    assert "offline router" in text
    _assert_no_pii(h.fake)


def test_churn_check_card_for_a_real_customer(live):
    h, fx = live
    public_id = fx.public_ids["S001"]
    h.command("/churn-check", public_id)
    post = h.fake.wait_for("chat.postMessage", timeout=20)[0].args
    assert public_id in json.dumps(post["blocks"]) and bk.check_message_limits(post["blocks"]) == []
    h.command("/churn-check", "C-00000000")
    reply = h.fake.wait_for("response_url", timeout=20)[0].args
    assert "C-00000000" in reply["text"]
    _assert_no_pii(h.fake)


def test_segment_info_and_forecast_commands(live):
    h, _ = live
    h.command("/segment-info", "")
    posts = h.fake.wait_for("chat.postMessage", count=2, timeout=20)
    h.command("/forecast", "revenue 8w")
    posts = h.fake.wait_for("chat.postMessage", count=3, timeout=30)
    for call in posts:
        assert bk.check_message_limits(call.args["blocks"]) == [], call.args["blocks"]
    charts = [b for b in posts[-1].args["blocks"] if b["type"] == "data_visualization"]
    assert len(charts) == 1 and bk.check_chart(charts[0]) == []
    _assert_no_pii(h.fake)


def test_home_dashboard_from_the_current_run(live):
    h, fx = live
    h.event({"type": "app_home_opened", "user": "U0ALICE", "channel": "D0ALICE", "tab": "home",
             "event_ts": "1719700000.000900"})
    view = h.fake.wait_for("views.publish", timeout=20)[0].args["view"]
    assert bk.check_message_limits(view["blocks"], max_blocks=bk.MAX_HOME_BLOCKS) == []
    text = json.dumps(view)
    assert "*Customers*\\n10" in text                                   # ten fixture customers
    assert f"Run {fx.current_run}" in text and "Unavailable" not in text
    _assert_no_pii(h.fake)


def test_campaign_export_is_the_whole_selection_without_contact_details(live):
    h, fx = live
    value = json.dumps({"tool": "target_campaign", "arguments": {"campaign": "win_back"}})
    h.action({"action_id": "export_csv", "block_id": "b", "type": "button", "value": value})
    complete = h.fake.wait_for("files.completeUploadExternal", timeout=20)[0].args
    assert "contact details" in complete["initial_comment"]
    upload = h.fake.calls_to("upload")[0].args
    lines = h.fake.uploads[upload["file_id"]].decode().splitlines()
    header = lines[0].split(",")
    assert "public_id" in header and not any("email" in c or "store_customer_id" in c for c in header)
    assert len(lines) == 1 + 3                                        # the three lapsed fixture customers
    assert any(fx.public_ids["S005"] in line for line in lines[1:])
    _assert_no_pii(h.fake)
    sent = json.dumps(h.fake.uploads[upload["file_id"]].decode())
    assert not [s for s in pii_strings() if s and s in sent]
