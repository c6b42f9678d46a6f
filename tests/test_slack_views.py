"""Block Kit views are pure functions of typed results; every message and Home view they produce
stays within Slack's limits, even for the largest results."""
from __future__ import annotations

import json

from bot.dashboard import Dashboard
from bot.views import blocks as bk
from bot.views.answer import answer_pages, downgrade, parse_tool_call_value, tool_result_pages
from bot.views.charts import forecast_chart, forecast_png
from bot.views.home import home_view
from bot.views.results import render_result
from tests.test_slack_support import Answer, ToolCall, customers_result, forecast_result
from analytics.core import ToolResult


def _all_text(blocks) -> str:
    return json.dumps(blocks)


def test_largest_customer_list_is_paged_within_limits():
    result = customers_result(100, has_more=True)
    pages = tool_result_pages("analyze_customers", {"limit": 100}, result)
    for page in pages:
        assert bk.check_message_limits(page) == []
    tables = [b for page in pages for b in page if b["type"] == "table"]
    assert len(tables) == 1 and len(tables[0]["rows"]) == 100        # header + 99 customers
    assert tables[0]["rows"][0][0]["text"] == "Public id"
    text = _all_text(pages)
    assert "C-00000062" in text and "C-00000063" not in text         # the 99th shown, the 100th in the CSV
    assert "first 99 shown" in text
    assert "Show more" in text and "Export CSV" in text


def test_huge_answer_many_charts_and_tables_is_paged():
    calls = [ToolCall("forecast_metrics", {"metric": "revenue"}, forecast_result()) for _ in range(5)]
    calls += [ToolCall("analyze_customers", {"limit": 100}, customers_result(100)) for _ in range(3)]
    answer = Answer(text=("Lots of words. " * 400 + "\n\n") * 8, tool_calls=calls)
    pages = answer_pages(answer)
    assert len(pages) >= 5
    for page in pages:
        assert bk.check_message_limits(page) == [], bk.check_message_limits(page)
    assert sum(1 for p in pages for b in p if b["type"] == "data_visualization") == 5
    assert pages[-1][-1]["type"] == "context_actions"               # feedback once, at the end
    assert all(len(bk.fallback_text(p)) <= bk.MAX_FALLBACK_CHARS and bk.fallback_text(p) for p in pages)


def test_forecast_chart_shape():
    chart = forecast_chart(forecast_result(history=400, horizon=365))
    assert bk.check_chart(chart) == []
    categories = chart["chart"]["axis_config"]["categories"]
    assert len(categories) <= 20
    names = [s["name"] for s in chart["chart"]["series"]]
    assert names == ["History", "Forecast", "Lower 80%", "Upper 80%"]
    forecast, lower, upper = (chart["chart"]["series"][i]["data"] for i in (1, 2, 3))
    assert all(lo["value"] <= f["value"] <= hi["value"] for f, lo, hi in zip(forecast, lower, upper))
    assert forecast[-1]["label"] == "2012-D364"                      # the horizon's end is always shown
    assert set(chart) == {"type", "title", "chart"}
    blocks = render_result(forecast_result())
    # The forecast's points are in the chart, not repeated as a table.
    assert not any(b["type"] == "table" for b in blocks)


def test_forecast_png_is_a_png():
    png = forecast_png(forecast_result())
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert forecast_png(customers_result(3)) is None


def test_downgrade_replaces_new_blocks():
    pages = answer_pages(Answer(text="x", tool_calls=[
        ToolCall("forecast_metrics", {}, forecast_result()), ToolCall("analyze_customers", {"limit": 5}, customers_result(5))]))
    blocks = [b for p in pages for b in p]
    older, dropped = downgrade(blocks)
    assert dropped
    assert {b["type"] for b in older} <= {"header", "section", "context", "actions", "divider"}


def test_personal_fields_never_rendered():
    class Leaky(ToolResult):
        rows: list[dict]
        email: str

    result = Leaky(tool="analyze_customers", summary="two customers", email="ann@example.com",
                   rows=[{"public_id": "C-1", "email": "bob@example.com", "phone": "+1 555 0100",
                          "customer_name": "Bob Smith", "shipping_address": "1 Main St", "orders": 2}])
    text = _all_text(render_result(result))
    for secret in ("ann@example.com", "bob@example.com", "555 0100", "Bob Smith", "Main St"):
        assert secret not in text
    assert "C-1" in text


def test_show_more_button_carries_next_offset():
    pages = tool_result_pages("analyze_customers", {"limit": 10, "offset": 20}, customers_result(10, has_more=True))
    buttons = [e for p in pages for b in p if b["type"] == "actions" for e in b["elements"]]
    more = next(b for b in buttons if b["action_id"] == "show_more")
    tool, arguments = parse_tool_call_value(more["value"])
    assert (tool, arguments["offset"], arguments["limit"]) == ("analyze_customers", 30, 10)
    none_left = tool_result_pages("analyze_customers", {"limit": 10}, customers_result(10, has_more=False))
    assert "show_more" not in _all_text(none_left)


def test_home_view_within_limits_for_largest_dashboard():
    board = Dashboard(
        headline={"customers": 27000, "revenue": 5_400_000.0, "customers_at_risk": 4100, "value_at_risk": 812000.0},
        current_run={"run_id": 7, "status": "published", "as_of": "2011-12-09", "finished_at": "2011-12-10T06:01",
                     "counts": {"customers": 27000, "archetypes": 12}},
        latest_run={"run_id": 8, "status": "failed"},
        at_risk=customers_result(100), archetypes=customers_result(100),
        problems=[])
    view = home_view(board)
    assert view["type"] == "home"
    assert bk.check_message_limits(view["blocks"], max_blocks=bk.MAX_HOME_BLOCKS) == []
    text = _all_text(view)
    assert "27,000" in text and "812,000" in text and "newer run (8) failed" in text
    assert "run_question_0" in text
    assert not any(b["type"] in ("table", "data_visualization") for b in view["blocks"])


def test_empty_dashboard_says_what_to_do():
    view = home_view(Dashboard(headline=None, current_run=None, latest_run=None))
    assert "python app.py discover" in _all_text(view)


def test_section_text_split_at_limit():
    pieces = bk.split_text("word " * 3000)
    assert all(len(p) <= bk.MAX_SECTION_CHARS for p in pieces) and len(pieces) == 5


def test_terminal_rendering_of_the_same_views():
    from bot.render_text import answer_to_text

    answer = Answer(text="Here are the *top* customers.", tool_calls=[
        ToolCall("analyze_customers", {"limit": 3}, customers_result(3, has_more=True)),
        ToolCall("forecast_metrics", {"metric": "revenue"}, forecast_result(history=4, horizon=5))])
    text = answer_to_text(answer)
    assert "Here are the top customers." in text                      # mrkdwn emphasis removed
    lines = text.splitlines()
    header = next(line for line in lines if line.startswith("Public id"))
    row = next(line for line in lines if line.startswith("C-00000002"))
    assert header.index("Lifetime value") < len(row)                  # columns aligned under the header
    assert 'Type "show more" or "export csv"' in text and "[Show more]" not in text   # typed, not pressed
    assert "Revenue forecast" in text and "Upper 80%" in text and "2012-D004" in text
    assert '"type"' not in text and "feedback" not in text.lower()


def test_clarification_and_refusal():
    from analytics.router.answer import Answer as RouterAnswer, Clarification

    asked = RouterAnswer(text="", clarification=Clarification(question="Which segment?",
                                                              options=["frequency:frequent", "value:big spenders"]))
    blocks = [b for page in answer_pages(asked) for b in page]
    buttons = [e for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert "Which segment?" in _all_text(blocks)
    assert [(b["action_id"], b["value"]) for b in buttons] == [
        ("run_question_0", "frequency:frequent"), ("run_question_1", "value:big spenders")]
    refused = Answer(text="", refusal="I can't share customers' email addresses.")
    assert "email addresses" in _all_text(answer_pages(refused))


def test_command_pages_with_intro_stay_within_limits():
    many = [{"row": i, **{f"c{j}": j for j in range(25)}} for i in range(5000)]

    class Big(ToolResult):
        rows: list[dict]

    pages = tool_result_pages("analyze_customers", {"limit": 100}, Big(tool="analyze_customers", summary="big", rows=many),
                              intro="<@U1> ran `/churn-check`")
    assert pages[0][0]["type"] == "context" and len(pages) == 1
    for page in pages:
        assert bk.check_message_limits(page) == []
    tables = [b for page in pages for b in page if b["type"] == "table"]
    assert len(tables) == 1 and len(tables[0]["rows"]) == 100 and all(len(r) == 20 for r in tables[0]["rows"])
    assert "first 99 shown" in _all_text(pages) and "Export CSV" in _all_text(pages)
