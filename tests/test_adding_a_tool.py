"""Adding a tool is one module plus one catalog line: a throw-away tool written to a temporary
module shows up in Claude's tool list, the offline router's menu and phrases, a Slack answer (its
title, its export button) and the console, with nothing else changed."""
from __future__ import annotations

import sys
import textwrap

import pytest

from analytics.core import ToolContext
from analytics.router import Router
from analytics.router.claude import cached_tool_definitions
from analytics.router.offline import OfflineRouter
from analytics.router.slots import Vocabulary
from analytics.tools import catalog, registry
from bot.render_text import answer_to_text
from bot.views.answer import EXPORT_CSV, answer_blocks, tool_result_pages
from sql import Database

TOOL_MODULE = '''
"""stock_weather: a throw-away tool for the registry test."""
from __future__ import annotations

import re

from pydantic import BaseModel, Field

from analytics.core import ToolContext, ToolInput, ToolResult
from analytics.tools.registry import MenuEntry, OfflinePhrases, tool


class StockWeatherInput(ToolInput):
    """How the stock feels today."""

    days: int = Field(3, ge=1, le=7, description="How many days to report.")


class Day(BaseModel):
    day: int
    mood: str


class StockWeatherResult(ToolResult):
    days: list[Day]


def _days(text: str) -> dict:
    found = re.search(r"\\b(\\d) days\\b", text)
    return {"days": int(found.group(1))} if found else {}


@tool("stock_weather", "The stock's weather report for the next few days (a test tool).",
      title="Stock weather", exportable=True,
      menu=(MenuEntry("the stock weather report", {"days": 2}),),
      offline=OfflinePhrases(re.compile(r"\\bstock weather\\b"), lambda parsed: _days(parsed.text)))
def stock_weather(ctx: ToolContext, params: StockWeatherInput) -> StockWeatherResult:
    days = [Day(day=n, mood="sunny" if n % 2 else "overcast") for n in range(1, params.days + 1)]
    return StockWeatherResult(tool="stock_weather", summary=f"{params.days} days of stock weather.", days=days)
'''


@pytest.fixture
def with_stock_weather(tmp_path, monkeypatch):
    package = tmp_path / "throwaway_tools"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "stock_weather.py").write_text(textwrap.dedent(TOOL_MODULE))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(catalog, "TOOL_MODULES", (*catalog.TOOL_MODULES, "throwaway_tools.stock_weather"))
    registry.reload_registry()
    yield
    monkeypatch.undo()
    for name in ("throwaway_tools.stock_weather", "throwaway_tools"):
        sys.modules.pop(name, None)
    registry.reload_registry()


def test_a_new_tool_reaches_every_surface(with_stock_weather, fresh_database_url, settings):
    # Claude's tool list: the registry's definition, with the input model's own schema.
    definitions = {d["name"]: d for d in cached_tool_definitions()}
    assert definitions["stock_weather"]["input_schema"]["properties"]["days"]["maximum"] == 7
    assert len(definitions) == len(catalog.TOOL_MODULES)

    # The offline router: its menu entry, and the phrases it owns.
    offline = OfflineRouter(Vocabulary())
    menu = offline.route("hello")
    assert "the stock weather report" in menu.clarification.options
    assert offline.route("what's the stock weather for 5 days?").to_json() == {
        "tool": "stock_weather", "arguments": {"days": 5}}

    db = Database(fresh_database_url(), migrate=False)
    try:
        router = Router(ToolContext(db=db, settings=settings), vocabulary=Vocabulary())
        answer = router.answer("show me the stock weather", thread_key="test:stock-weather")
        picked = router.answer("the stock weather report", thread_key="test:menu")
    finally:
        db.close()
    assert [c.tool for c in answer.tool_calls] == ["stock_weather"] and answer.tool_calls[0].result is not None

    # A Slack answer: its rows as a table with the export button; a direct result (a button or a
    # command re-running it) under the tool's title.
    blocks = answer_blocks(answer)
    buttons = [e["action_id"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert EXPORT_CSV in buttons and any(b["type"] == "table" for b in blocks)
    call = answer.tool_calls[0]
    page, = tool_result_pages(call.tool, call.arguments, call.result)
    assert [b["text"]["text"] for b in page if b["type"] == "header"] == ["Stock weather"]

    # The console: the same view as text.
    text = answer_to_text(answer)
    assert "Stock weather" in text and "overcast" in text and '"export csv"' in text
    assert picked.tool_calls and picked.tool_calls[0].tool == "stock_weather"


def test_the_registry_refuses_a_tool_without_typed_models():
    from analytics.tools.registry import tool

    with pytest.raises(TypeError, match="annotate `params`"):
        @tool("untyped", "no models", title="Untyped")
        def untyped(ctx: ToolContext, params):  # noqa: ANN001 - the point of the test
            return None
