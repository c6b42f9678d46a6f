"""A router Answer as Slack messages: the answer text, each tool result's tables and charts, a
source line, "show more" / "export CSV" buttons and feedback buttons, paged to Slack's limits."""
from __future__ import annotations

import json
from typing import Any

from analytics.tools.registry import tool_info
from bot.views import blocks as bk
from bot.views.results import MAX_ROWS_SHOWN, render_result, result_rows

SOURCE_LABELS = {"claude": "Claude", "offline": "offline router", "offline_fallback": "offline router (Claude unavailable)"}
SHOW_MORE = "show_more"
EXPORT_CSV = "export_csv"
RUN_QUESTION = "run_question"
FEEDBACK = "answer_feedback"


def tool_call_value(tool: str, arguments: dict[str, Any]) -> str:
    """Button value that re-runs a tool call (Slack allows 2,000 chars)."""
    return json.dumps({"tool": tool, "arguments": arguments}, separators=(",", ":"), default=str)


def parse_tool_call_value(value: str) -> tuple[str, dict[str, Any]]:
    data = json.loads(value)
    return str(data["tool"]), dict(data.get("arguments") or {})


def feedback_block(tool: str | None, source: str | None) -> bk.Block:
    """Slack's native 👍/👎 (`context_actions` + `feedback_buttons`); block_id tells the handler what
    was rated, because the click payload carries only the message."""
    return {
        "type": "context_actions",
        "block_id": f"feedback|{tool or '-'}|{source or '-'}"[:255],
        "elements": [{
            "type": "feedback_buttons",
            "action_id": FEEDBACK,
            "positive_button": {"text": {"type": "plain_text", "text": "👍"}, "value": "positive",
                                "accessibility_label": "This answer was useful"},
            "negative_button": {"text": {"type": "plain_text", "text": "👎"}, "value": "negative",
                                "accessibility_label": "This answer was not useful"},
        }],
    }


def result_buttons(tool: str, arguments: dict[str, Any], result: Any) -> list[dict[str, Any]]:
    """"Show more" when a paged list came back full, "Export CSV" for lists of customers/products."""
    buttons = []
    _, rows = result_rows(result)
    info = tool_info(tool)
    limit = int(arguments.get("limit") or (info.default("limit") if info else None) or len(rows) or 1)
    has_more = getattr(result, "has_more", None)
    if has_more is None:
        has_more = len(rows) >= limit
    if info is not None and "offset" in info.fields and has_more:
        # Continue after the last row shown (a table shows at most 99), so no customer is skipped.
        more = dict(arguments, offset=int(arguments.get("offset") or 0) + min(limit, MAX_ROWS_SHOWN))
        buttons.append(bk.button("Show more", SHOW_MORE, tool_call_value(tool, more)))
    if info is not None and info.exportable and rows:
        buttons.append(bk.button("Export CSV", EXPORT_CSV, tool_call_value(tool, arguments)))
    return buttons


def clarification_blocks(clarification: Any) -> list[bk.Block]:
    """A clarifying question with its options as buttons that ask the option as a question."""
    if isinstance(clarification, str):
        return bk.sections(clarification)
    data = clarification.model_dump() if hasattr(clarification, "model_dump") else dict(vars(clarification))
    text = data.get("question") or data.get("text") or "Could you say a bit more?"
    out = bk.sections(str(text))
    options = [o if isinstance(o, str) else (o.get("question") or o.get("label") or str(o))
               for o in (data.get("options") or [])]
    if options:
        out.append(bk.actions([bk.button(bk.clip(o, 75), f"{RUN_QUESTION}_{i}", o) for i, o in enumerate(options)]))
    return out


def answer_blocks(answer: Any) -> list[bk.Block]:
    """All blocks of an answer, before paging."""
    out: list[bk.Block] = []
    if getattr(answer, "refusal", None) and not getattr(answer, "text", ""):
        return bk.sections(str(answer.refusal))
    if getattr(answer, "clarification", None):
        # The question and its options once, as buttons (answer.text repeats them as numbered lines
        # for plain-text channels); then who answered.
        out.extend(clarification_blocks(answer.clarification))
        source = getattr(answer, "source", None)
        if source:
            out.append(bk.context(_source_line(answer)))
        return out
    text = getattr(answer, "text", "") or ""
    if text:
        out.extend(bk.sections(text))
    tools_used: list[str] = []
    for call in getattr(answer, "tool_calls", None) or []:
        tools_used.append(call.tool)
        if getattr(call, "error", None):
            out.append(bk.context(f"⚠️ {call.tool}: {call.error}"))
            continue
        if call.result is None:
            continue
        summary = getattr(call.result, "summary", "") or ""
        out.extend(render_result(call.result, with_header=len(answer.tool_calls) > 1,
                                 with_summary=bool(summary) and summary not in text))
        buttons = result_buttons(call.tool, dict(call.arguments or {}), call.result)
        if buttons:
            out.append(bk.actions(buttons))
    line = "" if "offline router" in text else _source_line(answer)
    if tools_used:
        # The tools by their titles: "Customers, Forecast" reads better than function names.
        titles = [(info.title if (info := tool_info(name)) else name) for name in dict.fromkeys(tools_used)]
        line += (" · " if line else "Tools: ") + ", ".join(titles)
    if line:
        out.append(bk.context(line))
    out.append(feedback_block(tools_used[0] if tools_used else None, getattr(answer, "source", None)))
    return out


def _source_line(answer: Any) -> str:
    source = getattr(answer, "source", None)
    if getattr(answer, "fallback_reason", None):
        return f"Answered by the offline router (Claude was unavailable: {answer.fallback_reason})"
    return f"Answered by the {SOURCE_LABELS.get(source, source or 'bot')}"


def answer_pages(answer: Any) -> list[list[bk.Block]]:
    return bk.paginate(answer_blocks(answer))


def tool_result_pages(tool: str, arguments: dict[str, Any], result: Any, *, title: str | None = None,
                      intro: str | None = None) -> list[list[bk.Block]]:
    """A slash command's or button's direct tool result as paged messages; `intro` is a context
    line on top (who ran which command)."""
    out = [bk.context(intro)] if intro else []
    out += [bk.header(title)] if title else []
    out.extend(render_result(result, with_header=title is None))
    buttons = result_buttons(tool, arguments, result)
    if buttons:
        out.append(bk.actions(buttons))
    out.append(feedback_block(tool, "command"))
    return bk.paginate(out)


def downgrade(blocks: list[bk.Block]) -> tuple[list[bk.Block], bool]:
    """Blocks older clients/workspaces accept (for `invalid_blocks`): charts become a note (the
    caller uploads a PNG), tables become monospace text, feedback becomes plain buttons.
    Returns (blocks, whether a chart was removed)."""
    out: list[bk.Block] = []
    removed_chart = False
    for block in blocks:
        kind = block.get("type")
        if kind == "data_visualization":
            removed_chart = True
            out.append(bk.context(f"📈 {block.get('title', 'Chart')}: image below"))
        elif kind == "table":
            lines = [" | ".join(c.get("text", "") for c in row) for row in block["rows"]]
            out.extend(bk.sections("```" + "\n".join(lines)[: bk.MAX_SECTION_CHARS - 6] + "```"))
        elif kind == "context_actions":
            out.append(bk.actions([
                bk.button("👍", f"{FEEDBACK}_positive", "positive"),
                bk.button("👎", f"{FEEDBACK}_negative", "negative"),
            ], block_id=block.get("block_id")))
        else:
            out.append(block)
    return out, removed_chart
