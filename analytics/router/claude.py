"""The Claude tool-use loop: send the question with the tools, run the tools Claude asks for, send
the results back (errors as `is_error` tool results), until Claude answers in text or a hard cap on
rounds or tokens is reached. API errors and timeouts raise ClaudeUnavailable for the fallback."""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import anthropic

from analytics.claude_breaker import ClaudeCircuitOpen
from analytics.router import safety
from analytics.router.answer import ToolCall, Usage
from analytics.router.prompt import SYSTEM_PROMPT
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import run_tool, tool_definitions

log = logging.getLogger(__name__)

MAX_ROUNDS = 4
MAX_TOKENS_PER_CALL = 1_024
TOKEN_BUDGET = 40_000           # all rounds of one question, input + output + cache
MAX_TOOL_RESULT_CHARS = 12_000  # what one tool result may add to the conversation
ROWS_FOR_MODEL = 25


class ClaudeUnavailable(Exception):
    """The API failed (error status, timeout, connection); `reason` is safe to show."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class LoopResult:
    text: str
    tool_calls: list[ToolCall] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    stop: str = "end_turn"   # end_turn | max_tokens | max_rounds | token_budget | ...


def system_blocks() -> list[dict[str, Any]]:
    return [{"type": "text", "text": SYSTEM_PROMPT, "cache_control": {"type": "ephemeral"}}]


def cached_tool_definitions() -> list[dict[str, Any]]:
    """The registry's tools; the cache breakpoint on the last one caches all of them with the system prompt."""
    definitions = [dict(d) for d in tool_definitions()]
    if definitions:
        definitions[-1]["cache_control"] = {"type": "ephemeral"}
    return definitions


def describe_api_error(exc: Exception) -> str:
    if isinstance(exc, ClaudeCircuitOpen):
        return "the Claude API failed repeatedly and is paused"
    if isinstance(exc, anthropic.APITimeoutError):
        return "the Claude API timed out"
    if isinstance(exc, anthropic.APIStatusError):
        return f"the Claude API answered HTTP {exc.status_code}"
    if isinstance(exc, anthropic.APIConnectionError):
        return "the Claude API could not be reached"
    return f"the Claude API failed ({type(exc).__name__})"


def history_messages(summary: str, turns: list[dict[str, Any]], question: str) -> list[dict[str, Any]]:
    """Earlier turns as alternating user/assistant text (with the tool calls noted), then the question."""
    messages: list[dict[str, Any]] = []
    preface = f"Earlier in this conversation (summarised):\n{summary}\n" if summary else ""
    for turn in turns:
        notes = []
        for call in turn.get("tool_calls") or []:
            result = call.get("result") or {}
            notes.append(f"{call.get('tool')}({json.dumps(call.get('arguments') or {}, sort_keys=True)})"
                         + (f" -> {result.get('summary')}" if result.get("summary") else "")
                         + (f" -> error: {call.get('error')}" if call.get("error") else ""))
        answer = turn.get("answer") or "(no answer)"
        if notes:
            answer += "\n[tools used: " + "; ".join(notes) + "]"
        messages.append({"role": "user", "content": preface + (turn.get("question") or "")})
        messages.append({"role": "assistant", "content": answer})
        preface = ""
    messages.append({"role": "user", "content": preface + question})
    return messages


def _content_for_model(result: Any) -> str:
    data = result.model_dump(mode="json")
    text = json.dumps(data, default=str)
    if len(text) <= MAX_TOOL_RESULT_CHARS:
        return text
    for key, value in list(data.items()):
        if isinstance(value, list) and len(value) > ROWS_FOR_MODEL:
            data[key] = value[:ROWS_FOR_MODEL]
            data[f"{key}_note"] = f"first {ROWS_FOR_MODEL} of {len(value)} rows shown"
    text = json.dumps(data, default=str)
    return text if len(text) <= MAX_TOOL_RESULT_CHARS else json.dumps({"summary": data.get("summary")})


def execute_tool(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> tuple[ToolCall, str, bool]:
    """Run one tool for the model: (the ToolCall kept for rendering, tool_result content, is_error)."""
    try:
        result = run_tool(ctx, name, arguments)
    except ToolError as exc:
        return ToolCall(tool=name, arguments=arguments, error=str(exc)), str(exc), True
    except Exception:  # noqa: BLE001 - a bug in a tool must not end the conversation
        log.exception("tool %s failed with arguments %s", name, arguments)
        message = f"The {name} tool failed unexpectedly; the error was logged."
        return ToolCall(tool=name, arguments=arguments, error=message), message, True
    return ToolCall(tool=name, arguments=arguments, result=result), _content_for_model(result), False


def compose_from_results(calls: list[ToolCall], why: str) -> str:
    """An answer built from the tools' own summaries, when the model did not finish one."""
    lines = [c.result.summary for c in calls if c.result is not None] + [c.error for c in calls if c.error]
    if not lines:
        return f"I couldn't finish that answer ({why}). Could you ask a narrower question?"
    return "\n".join(lines) + f"\n({why}; these are the tools' own figures.)"


def run_tool_loop(client: anthropic.Anthropic, model: str, ctx: ToolContext, messages: list[dict[str, Any]], *,
                  max_rounds: int = MAX_ROUNDS, max_tokens: int = MAX_TOKENS_PER_CALL,
                  token_budget: int = TOKEN_BUDGET) -> LoopResult:
    tools = cached_tool_definitions()
    calls: list[ToolCall] = []
    usage = Usage()
    for round_no in range(1, max_rounds + 1):
        extra: dict[str, Any] = {}
        if round_no == max_rounds and calls:
            # Last round: the model must answer with what it has.
            extra["tool_choice"] = {"type": "none"}
        try:
            response = client.messages.create(model=model, max_tokens=max_tokens, system=system_blocks(),
                                              tools=tools, messages=messages, **extra)
        except anthropic.APIError as exc:
            raise ClaudeUnavailable(describe_api_error(exc)) from exc
        usage.add(response.usage)
        usage.rounds = round_no
        text = "".join(block.text for block in response.content if block.type == "text").strip()
        uses = [block for block in response.content if block.type == "tool_use"]

        if response.stop_reason == "tool_use" and uses:
            if usage.total_tokens >= token_budget:
                return LoopResult(compose_from_results(calls, "stopped at the token budget"), calls, usage, "token_budget")
            messages.append({"role": "assistant",
                             "content": [block.model_dump(mode="json", exclude_none=True) for block in response.content]})
            results = []
            for use in uses:
                call, content, is_error = execute_tool(ctx, use.name, dict(use.input or {}))
                calls.append(call)
                block: dict[str, Any] = {"type": "tool_result", "tool_use_id": use.id, "content": content}
                if is_error:
                    block["is_error"] = True
                results.append(block)
            messages.append({"role": "user", "content": results})
            continue

        if response.stop_reason == "max_tokens":
            if text:
                return LoopResult(safety.scrub(text) + " … (answer cut short at the length limit)", calls, usage, "max_tokens")
            return LoopResult(compose_from_results(calls, "the answer hit the length limit"), calls, usage, "max_tokens")

        if not text:
            return LoopResult(compose_from_results(calls, "the model returned no text"), calls, usage,
                              response.stop_reason or "empty")
        return LoopResult(safety.scrub(text), calls, usage, response.stop_reason or "end_turn")

    return LoopResult(compose_from_results(calls, f"stopped after {max_rounds} rounds of tool calls"), calls, usage,
                      "max_rounds")


def first_tool_call(client: anthropic.Anthropic, model: str, messages: list[dict[str, Any]]) -> tuple[str | None, dict[str, Any], str, Usage]:
    """One model call, no execution: (tool, arguments, text, usage) of the first tool Claude picks."""
    usage = Usage()
    try:
        response = client.messages.create(model=model, max_tokens=MAX_TOKENS_PER_CALL, system=system_blocks(),
                                          tools=cached_tool_definitions(), messages=messages)
    except anthropic.APIError as exc:
        raise ClaudeUnavailable(describe_api_error(exc)) from exc
    usage.add(response.usage)
    usage.rounds = 1
    text = "".join(block.text for block in response.content if block.type == "text").strip()
    for block in response.content:
        if block.type == "tool_use":
            return block.name, dict(block.input or {}), text, usage
    return None, {}, safety.scrub(text), usage
