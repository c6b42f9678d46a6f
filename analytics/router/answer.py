"""What the router hands back: a routing decision (no execution) and a full answer with the
structured tool results beside the text, so Slack and the console render tables from data."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny

from analytics.core import ToolResult

Source = Literal["claude", "offline"]


class Clarification(BaseModel):
    """One short question with the options the user can pick (by number or by text)."""

    question: str
    options: list[str] = Field(default_factory=list)


class RouteDecision(BaseModel):
    """A tool with validated arguments, or a clarification, or a refusal. Never executed here."""

    tool: str | None = None
    arguments: dict[str, Any] = Field(default_factory=dict)
    clarification: Clarification | None = None
    refusal: str | None = None
    source: Source = "offline"
    # Hidden from the CLI output: for a clarification, the decision each option stands for.
    option_calls: list[dict[str, Any]] = Field(default_factory=list, exclude=True)

    def to_json(self) -> dict[str, Any]:
        """The shape `python app.py route` prints."""
        if self.refusal is not None:
            return {"refusal": self.refusal}
        if self.clarification is not None:
            return {"clarification": self.clarification.question, "options": self.clarification.options}
        return {"tool": self.tool, "arguments": self.arguments}


class ToolCall(BaseModel):
    """One tool run: what was asked, and the typed result or the user-facing error."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    tool: str
    arguments: dict[str, Any] = Field(default_factory=dict)
    # SerializeAsAny: dump the concrete result subclass (its rows), not just the base fields.
    result: SerializeAsAny[ToolResult] | None = None
    error: str | None = None


class Usage(BaseModel):
    """Tokens spent on one question (all rounds of the tool-use loop added up)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    rounds: int = 0

    def add(self, usage: Any) -> None:
        """Add an Anthropic `usage` block (fields may be missing or None)."""
        self.input_tokens += getattr(usage, "input_tokens", 0) or 0
        self.output_tokens += getattr(usage, "output_tokens", 0) or 0
        self.cache_creation_input_tokens += getattr(usage, "cache_creation_input_tokens", 0) or 0
        self.cache_read_input_tokens += getattr(usage, "cache_read_input_tokens", 0) or 0

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_creation_input_tokens
                + self.cache_read_input_tokens)


class Answer(BaseModel):
    """The final answer. `text` states numbers exactly as the tools returned them."""

    text: str
    tool_calls: list[ToolCall] = Field(default_factory=list)
    source: Source = "offline"
    clarification: Clarification | None = None
    refusal: str | None = None
    usage: Usage = Field(default_factory=Usage)
    # Why Claude was not used when a key is configured (API error, timeout); None otherwise.
    fallback_reason: str | None = None
    # For a clarification: the call behind each option, kept in thread memory so "2" picks it.
    option_calls: list[dict[str, Any]] = Field(default_factory=list, exclude=True)

    @property
    def results(self) -> list[ToolResult]:
        return [call.result for call in self.tool_calls if call.result is not None]
