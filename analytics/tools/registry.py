"""The tool registry: name → (description, input model, function). One registry serves the Claude
router (as tool definitions), the offline router, Slack, the console and Gorgias."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, ValidationError

from analytics.tools.inputs import TOOL_INPUTS, ToolInput


class ToolResult(BaseModel):
    """Base of every tool's typed result. `summary` is one or two plain sentences with the key
    figures, free of personal data; renderers build tables and charts from the typed fields."""

    model_config = ConfigDict(extra="forbid")
    tool: str
    summary: str


class ToolError(Exception):
    """A problem the user can fix (unknown customer, bad argument); the message is shown as is."""


@dataclass
class ToolContext:
    """What a tool needs to run: storage, cache and settings. Built once per process."""

    db: Any            # sql.Database
    settings: Any      # settings.Settings
    cache: Any = None  # analytics.cache.Cache
    extras: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_model: type[ToolInput]
    run: Callable[[ToolContext, ToolInput], ToolResult]

    def definition(self) -> dict[str, Any]:
        """The Anthropic tool definition: {name, description, input_schema}."""
        return {"name": self.name, "description": self.description,
                "input_schema": self.input_model.model_json_schema()}


_TOOLS: dict[str, Tool] = {}


def register(name: str, description: str):
    """Decorator for a tool function `fn(ctx, params) -> ToolResult`; the input model comes from inputs.py."""
    if name not in TOOL_INPUTS:
        raise KeyError(f"tool {name!r} has no input model in analytics/tools/inputs.py")

    def wrap(fn: Callable[[ToolContext, ToolInput], ToolResult]):
        _TOOLS[name] = Tool(name, description, TOOL_INPUTS[name], fn)
        return fn

    return wrap


def _load_tools() -> None:
    # Importing the package registers every tool module it lists.
    import analytics.tools.catalog  # noqa: F401


_CATALOG_LOADED = False


def tools() -> dict[str, Tool]:
    global _CATALOG_LOADED
    # A flag, not "is the dict empty": a tool module that failed to import must fail every call,
    # not leave a partial registry behind for the rest of the process.
    if not _CATALOG_LOADED:
        _load_tools()
        _CATALOG_LOADED = True
    return dict(_TOOLS)


def tool_definitions() -> list[dict[str, Any]]:
    return [tool.definition() for tool in tools().values()]


def validate_arguments(name: str, arguments: dict[str, Any]) -> ToolInput:
    """The validated input model, or a ToolError that says which argument is wrong and why."""
    tool = tools().get(name)
    if tool is None:
        raise ToolError(f"I don't have a tool called {name!r}.")
    try:
        return tool.input_model.model_validate(arguments or {})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
        )
        raise ToolError(f"Invalid arguments for {name}: {problems}") from None


def run_tool(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> ToolResult:
    params = validate_arguments(name, arguments)
    return tools()[name].run(ctx, params)
