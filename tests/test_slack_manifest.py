"""manifest.json declares exactly what the Bolt app listens to, with the scopes its calls need."""
from __future__ import annotations

import json
from pathlib import Path

from bot.views.help import COMMAND_HELP

MANIFEST = json.loads((Path(__file__).resolve().parents[1] / "manifest.json").read_text())


def test_manifest_commands_match_the_app(settings, db):
    declared = {c["command"] for c in MANIFEST["features"]["slash_commands"]}
    assert declared == set(COMMAND_HELP)
    # every declared command is one the app registers (help is answered in the ack, so a listener exists)
    from bot.listeners.commands import churn_check, forecast, segment_info

    assert {"/churn-check", "/forecast", "/segment-info", "/customer-digest"} == declared
    assert churn_check.parse("")[0][0] == "analyze_customers" and forecast.parse("")[0][0] == "forecast_metrics"
    assert segment_info.parse("")[1][0] == "segment_info"


def test_manifest_events_scopes_and_modes():
    events = set(MANIFEST["settings"]["event_subscriptions"]["bot_events"])
    assert events == {"app_home_opened", "app_mention", "message.im", "assistant_thread_started",
                      "assistant_thread_context_changed"}
    scopes = set(MANIFEST["oauth_config"]["scopes"]["bot"])
    assert {"app_mentions:read", "chat:write", "commands", "files:write", "im:history", "assistant:write"} <= scopes
    assert not any(s.startswith(("users:read", "admin")) for s in scopes)  # no access to people's profiles
    assert MANIFEST["settings"]["socket_mode_enabled"] is True
    assert MANIFEST["settings"]["interactivity"]["is_enabled"] is True
    assert MANIFEST["features"]["app_home"]["home_tab_enabled"] is True
