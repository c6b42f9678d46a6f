"""The privacy rule: no name, email, phone or store id of any fixture customer in any chat-facing
result, whatever the arguments; every tool registers with a description and a JSON schema."""
from __future__ import annotations

import pytest

from analytics.cache import Cache
from analytics.core import ToolContext
from analytics.tools.registry import run_tool, tool_definitions, tools
from tests.analytics_fixture import CUSTOMERS, analytics_db, loaded, pii_strings  # noqa: F401

MY_TOOLS = ("lookup_customer", "analyze_customers", "analyze_segments", "segment_info", "target_campaign",
            "analyze_behavior", "get_recommendations")


def _calls(fx):
    calls = [("lookup_customer", {"customer": s}) for s in CUSTOMERS]
    calls += [("get_recommendations", {"customer": fx.public_ids[s]}) for s in CUSTOMERS]
    calls += [("analyze_customers", {"sort_by": s, "limit": 100}) for s in
              ("churn_risk", "value", "predicted_value", "recency", "frequency")]
    calls += [("analyze_segments", {"mode": m, "segment": "frequent", "other_segment": "occasional", "days_ago": 28})
              for m in ("overview", "detail", "compare", "changes")]
    calls += [("segment_info", {}), ("segment_info", {"name": "A-bbb222"}), ("segment_info", {"name": "one-time"})]
    calls += [("target_campaign", {"campaign": c}) for c in ("retention", "win_back", "upsell", "vip", "seasonal")]
    calls += [("analyze_behavior", {"focus": f}) for f in
              ("segment_moves", "declining", "one_time_buyers", "discount_dependency")]
    calls += [("get_recommendations", {}), ("get_recommendations", {"segment": "big spenders"})]
    return calls


@pytest.mark.parametrize("min_group", [1, 5])
def test_no_personal_data_in_chat_results(loaded, settings, min_group):
    db, fx = loaded
    ctx = ToolContext(db=db, settings=settings.model_copy(update={"min_group_size": min_group}), cache=Cache(None))
    forbidden = pii_strings() + list(CUSTOMERS)          # names, emails, phones, and the store's own ids
    for name, args in _calls(fx):
        text = run_tool(ctx, name, args).model_dump_json()
        leaked = [s for s in forbidden if s.lower() in text.lower()]
        assert not leaked, f"{name}({args}) leaked {leaked}"
        if name == "target_campaign" and '"export_path":"' in text:
            assert "@" not in text.split('"export_path"')[0]


def test_every_tool_is_registered_with_a_schema():
    definitions = {d["name"]: d for d in tool_definitions()}
    for name in MY_TOOLS:
        assert name in tools()
        assert len(definitions[name]["description"]) > 80
        assert definitions[name]["input_schema"]["type"] == "object"
