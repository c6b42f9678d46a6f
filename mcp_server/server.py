"""The MCP server on the SDK's low-level `Server` (mcp 2.3): tools listed with the registry's own
definitions (name, description, input schema: the same list Claude gets), called through
`Registry.run` (same validation and ToolError messages), answered with the typed result as
structured content plus its one-line summary; a few resources and one prompt.

The low-level API is used because FastMCP/MCPServer derive schemas from function signatures, and
the schemas served must be the registry's, not regenerated ones."""
from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

import anyio
import mcp_types as types
from mcp.server.lowlevel import Server

from analytics.core import ToolContext, ToolError, current_run
from analytics.tools.registry import Registry, registry
from observability.logs import correlated, new_correlation_id

log = logging.getLogger("cib.mcp")

SERVER_NAME = "customer-intelligence"
INSTRUCTIONS = (
    "Answers questions about the store's customers from its own order history: churn risk, segments and "
    "archetypes, lifetime value, products, forecasts, campaigns, store figures. Customers appear only as "
    "pseudonymous ids C-XXXXXXXX (lookup_customer also accepts the store's own id); names, emails, phones and "
    "addresses are never returned. Read-only: nothing is written."
)

RUN_URI = "customer-intel://run/current"
SEGMENTS_URI = "customer-intel://segments"
ARCHETYPES_URI = "customer-intel://archetypes"
REVIEW_PROMPT = "weekly_customer_review"


def read_only(ctx: ToolContext) -> ToolContext:
    """The context MCP runs tools with: same database, cache and memos, no exports written."""
    return dataclasses.replace(ctx, writes_exports=False)


def mcp_tools(tools: Registry) -> list[types.Tool]:
    """The registry's tools as MCP tools: the input schema is `Tool.definition()`'s, unchanged."""
    listed = []
    for tool in tools:
        definition = tool.definition()
        listed.append(types.Tool(
            name=definition["name"], title=tool.title, description=definition["description"],
            input_schema=definition["input_schema"],
            output_schema=tool.result_model.model_json_schema(mode="serialization"),
            annotations=types.ToolAnnotations(title=tool.title, read_only_hint=True, destructive_hint=False,
                                              idempotent_hint=True, open_world_hint=False),
        ))
    return listed


def call_tool(ctx: ToolContext, tools: Registry, name: str, arguments: dict[str, Any] | None) -> types.CallToolResult:
    """One tool call, blocking (run in a worker thread). A user's mistake (bad argument, unknown
    customer, no run yet) is an MCP tool error carrying the registry's message; a bug is logged
    with its context and answered with a generic error, never a traceback."""
    try:
        result = tools.run(ctx, name, arguments or {})
    except ToolError as exc:
        return _error(str(exc))
    except Exception:  # noqa: BLE001 - the agent gets a clean error; the log gets the details
        log.exception("MCP tool %s failed (arguments %s)", name, sorted((arguments or {}).keys()))
        return _error(f"{name} failed on our side; the error has been logged.")
    return types.CallToolResult(content=[types.TextContent(text=result.summary)],
                                structured_content=result.model_dump(mode="json"))


def _error(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


# --- resources ----------------------------------------------------------------------------------

RESOURCES = [
    types.Resource(uri=RUN_URI, name="current_run", title="Current discovery run",
                   description="Which discovery run answers read (id, as-of date) with the segment overview's "
                               "summary.", mime_type="application/json"),
    types.Resource(uri=SEGMENTS_URI, name="segments", title="Segment catalogue",
                   description="The behavioural segments of the current run, per axis, with sizes and figures "
                               "(analyze_segments, overview).", mime_type="application/json"),
    types.Resource(uri=ARCHETYPES_URI, name="archetypes", title="Archetype catalogue",
                   description="The largest archetypes (customer types combining segments) of the current run "
                               "(segment_info with no name).", mime_type="application/json"),
]


def read_resource(ctx: ToolContext, tools: Registry, uri: str) -> str:
    """A resource's JSON text. Unknown URIs and a store with no run yet are ToolErrors."""
    if uri == RUN_URI:
        run = current_run(ctx)
        if run is None:
            return json.dumps({"current_run": None, "problem": "no discovery run yet — run `python app.py discover`"})
        overview = tools.run(ctx, "analyze_segments", {"mode": "overview"})
        return json.dumps({"run_id": run.run_id, "as_of": run.as_of.isoformat(),
                           "finished_at": run.finished_at.isoformat() if run.finished_at else None,
                           "summary": overview.summary})
    if uri == SEGMENTS_URI:
        return tools.run(ctx, "analyze_segments", {"mode": "overview"}).model_dump_json()
    if uri == ARCHETYPES_URI:
        return tools.run(ctx, "segment_info", {}).model_dump_json()
    raise ToolError(f"No resource {uri!r}; the resources are {', '.join(r.uri for r in RESOURCES)}.")


# --- the prompt ---------------------------------------------------------------------------------

PROMPTS = [
    types.Prompt(name=REVIEW_PROMPT, title="Weekly customer review",
                 description="A weekly review of the store's customers: figures, churn risk, behaviour changes, "
                             "segment moves and what to do, with the tools to call for each.",
                 arguments=[types.PromptArgument(name="focus", required=False,
                                                 description="Optional: a segment, archetype or category to look "
                                                             "at more closely, e.g. 'batting' or 'whale'.")]),
]


def review_prompt(focus: str | None) -> types.GetPromptResult:
    steps = [
        "Write this week's customer review for the store, using the customer-intelligence tools:",
        "1. store_metrics for the last week (period 'YYYY-MM-DD..YYYY-MM-DD', the 7 days to the latest order) with "
        "compare 'previous_period': revenue, orders, average order value, new customers, return rate.",
        "2. analyze_customers sorted by churn_risk (limit 10): who is at risk and what losing them would cost.",
        "3. analyze_behavior with focus 'recent_change' and window_weeks 2: regular customers whose behaviour "
        "changed lately.",
        "4. analyze_segments in mode 'changes' with days_ago 7: how segments moved since last week's run.",
        "5. get_recommendations: the three actions worth doing this week, each with the customers it concerns.",
    ]
    if focus:
        steps.append(f"Look more closely at '{focus[:80]}' (as a segment, archetype or category, whichever the tools "
                     "recognise).")
    steps.append("Refer to customers only by their C-XXXXXXXX ids. Keep it to one page, figures first.")
    return types.GetPromptResult(description="Weekly customer review", messages=[
        types.PromptMessage(role="user", content=types.TextContent(text="\n".join(steps)))])


# --- the server ---------------------------------------------------------------------------------

def build_server(ctx: ToolContext, tools: Registry | None = None) -> Server:
    """The MCP server over the tool registry, running every tool read-only on `ctx`'s store."""
    ctx = read_only(ctx)
    tools = tools or registry()
    listed = mcp_tools(tools)
    schemas = {t.name: t.input_schema for t in listed}

    async def on_list_tools(request_ctx, params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=listed)

    async def on_call_tool(request_ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        # Tools are blocking (psycopg pool): run them off the event loop, under the call's own id.
        with correlated(new_correlation_id("mcp")):
            return await anyio.to_thread.run_sync(call_tool, ctx, tools, params.name, params.arguments)

    async def on_list_resources(request_ctx, params) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=RESOURCES)

    async def on_read_resource(request_ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        uri = str(params.uri)
        try:
            with correlated(new_correlation_id("mcp")):
                text = await anyio.to_thread.run_sync(read_resource, ctx, tools, uri)
        except ToolError as exc:
            text = json.dumps({"error": str(exc)})
        return types.ReadResourceResult(contents=[
            types.TextResourceContents(uri=uri, mime_type="application/json", text=text)])

    async def on_list_prompts(request_ctx, params) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=PROMPTS)

    async def on_get_prompt(request_ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        if params.name != REVIEW_PROMPT:
            raise ValueError(f"No prompt {params.name!r}; the prompt is {REVIEW_PROMPT!r}.")
        return review_prompt((params.arguments or {}).get("focus"))

    return Server(SERVER_NAME, title="Customer Intelligence", instructions=INSTRUCTIONS,
                  get_tool_input_schema=schemas.get,
                  on_list_tools=on_list_tools, on_call_tool=on_call_tool,
                  on_list_resources=on_list_resources, on_read_resource=on_read_resource,
                  on_list_prompts=on_list_prompts, on_get_prompt=on_get_prompt)
