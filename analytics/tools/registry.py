"""The tool registry: every tool described once, in its own module, read by every surface.

A tool module defines its input model, its result model and one function decorated with `@tool(...)`,
which carries what the surfaces need (title, export, card, offline-router menu entries and phrases,
answers to precompute). The catalog (`analytics/tools/catalog.py`) lists the tool modules; Claude's
tool list, the offline router, Slack, the console and the cache warmer all read this registry.
"""
from __future__ import annotations

import importlib
import logging
import re
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import ValidationError

from analytics.core import ToolContext, ToolError, ToolInput, ToolResult
from observability import metrics

log = logging.getLogger(__name__)

Card = Literal["customer", "forecast", "metrics"]


@dataclass(frozen=True)
class MenuEntry:
    """One option of the offline router's "what would you like to see?" menu."""

    label: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class OfflinePhrases:
    """Offline-router vocabulary a tool owns: a question matching `pattern` (on the normalised,
    typo-corrected text) is this tool's, with `arguments(parsed)` for its input (no function: the
    defaults). `arguments` may return None: on a closer look the question is not this tool's."""

    pattern: re.Pattern[str]
    arguments: Callable[[Any], dict[str, Any] | None] | None = None


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    input_model: type[ToolInput]
    result_model: type[ToolResult]
    run: Callable[[ToolContext, ToolInput], ToolResult]
    title: str
    exportable: bool = False           # its rows can be downloaded as CSV (Slack's "Export CSV")
    card: Card | None = None           # a dedicated view instead of the generic one
    menu: tuple[MenuEntry, ...] = ()   # entries of the offline router's menu
    warm: tuple[dict[str, Any], ...] = ()   # arguments worth precomputing after each discovery run
    offline: OfflinePhrases | None = None

    def definition(self) -> dict[str, Any]:
        """The Anthropic tool definition: {name, description, input_schema}."""
        return {"name": self.name, "description": self.description,
                "input_schema": self.input_model.model_json_schema()}

    @property
    def fields(self) -> set[str]:
        return set(self.input_model.model_fields)

    def default(self, name: str) -> Any:
        found = self.input_model.model_fields.get(name)
        return found.default if found is not None else None


def tool(name: str, description: str, *, title: str, exportable: bool = False, card: Card | None = None,
         menu: tuple[MenuEntry, ...] = (), warm: tuple[dict[str, Any], ...] = (),
         offline: OfflinePhrases | None = None):
    """Declares a function `fn(ctx, params: XInput) -> XResult` as the tool `name`. The input and
    result models are read from the function's annotations; the function gets a `.tool` attribute,
    which the catalog collects."""

    def wrap(fn: Callable[[ToolContext, Any], Any]):
        hints = typing.get_type_hints(fn)
        input_model, result_model = hints.get("params"), hints.get("return")
        if not (isinstance(input_model, type) and issubclass(input_model, ToolInput)):
            raise TypeError(f"tool {name!r}: annotate `params` with its ToolInput model")
        if not (isinstance(result_model, type) and issubclass(result_model, ToolResult)):
            raise TypeError(f"tool {name!r}: annotate the return type with its ToolResult model")
        fn.tool = Tool(name, description, input_model, result_model, fn, title, exportable, card,  # type: ignore[attr-defined]
                       tuple(menu), tuple(warm), offline)
        return fn

    return wrap


class Registry:
    """Tools by name, in catalog order."""

    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {t.name: t for t in tools}

    @classmethod
    def from_modules(cls, module_names: tuple[str, ...] | list[str]) -> Registry:
        found: list[Tool] = []
        for module_name in module_names:
            module = importlib.import_module(module_name)
            declared = [v.tool for v in vars(module).values()
                        if callable(v) and isinstance(getattr(v, "tool", None), Tool)
                        and getattr(v, "__module__", None) == module.__name__]
            if not declared:
                raise ImportError(f"{module_name} declares no @tool function")
            found.extend(declared)
        return cls(found)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self):
        return iter(self._tools.values())

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def names(self) -> list[str]:
        return list(self._tools)

    def definitions(self) -> list[dict[str, Any]]:
        return [t.definition() for t in self._tools.values()]

    def validate(self, name: str, arguments: dict[str, Any]) -> ToolInput:
        """The validated input model, or a ToolError that says which argument is wrong and why."""
        found = self._tools.get(name)
        if found is None:
            raise ToolError(f"I don't have a tool called {name!r}.")
        try:
            return found.input_model.model_validate(arguments or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'arguments'}: {err['msg']}" for err in exc.errors()
            )
            raise ToolError(f"Invalid arguments for {name}: {problems}") from None

    def run(self, ctx: ToolContext, name: str, arguments: dict[str, Any]) -> ToolResult:
        """Validate and run one call, counted and timed by tool (cib_tool_calls, cib_tool_call_seconds)."""
        label = name if name in self._tools else "unknown"  # a made-up name must not become a series
        started, outcome = time.perf_counter(), "invalid_arguments"
        try:
            params = self.validate(name, arguments)
            outcome = "error"
            result = self._tools[name].run(ctx, params)
            outcome = "ok"
            return result
        finally:
            seconds = time.perf_counter() - started
            metrics.TOOL_CALLS.labels(label, outcome).inc()
            metrics.TOOL_SECONDS.labels(label).observe(seconds)
            # Not the arguments: a customer may be named by email. The line carries the correlation id.
            log.debug("tool %s: %s in %.3f s", label, outcome, seconds)


_REGISTRY: Registry | None = None


def registry() -> Registry:
    """The process's registry, loaded from the catalog on first use. A tool module that fails to
    import fails every call: there is never a partial registry."""
    global _REGISTRY
    if _REGISTRY is None:
        from analytics.tools.catalog import TOOL_MODULES

        _REGISTRY = Registry.from_modules(TOOL_MODULES)
    return _REGISTRY


def reload_registry() -> Registry:
    """Read the catalog again (after a test adds a tool module to it)."""
    global _REGISTRY
    _REGISTRY = None
    return registry()


# Shorthands for the default registry.

def tools() -> dict[str, Tool]:
    return {t.name: t for t in registry()}


def tool_info(name: str) -> Tool | None:
    return registry().get(name)


def tool_definitions() -> list[dict[str, Any]]:
    return registry().definitions()


def validate_arguments(name: str, arguments: dict[str, Any]) -> ToolInput:
    return registry().validate(name, arguments)


def run_tool(ctx: ToolContext, name: str, arguments: dict[str, Any]) -> ToolResult:
    return registry().run(ctx, name, arguments)
