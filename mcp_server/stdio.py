"""`python app.py mcp`: the MCP server over stdio for Claude Desktop and other local agents. Only
JSON-RPC goes to stdout: the SDK points fd 1 at stderr while it serves, and the store is opened
after that, so nothing the database or its embedded server prints can reach the wire."""
from __future__ import annotations

import logging
from contextlib import AbstractContextManager
from typing import Callable

import anyio
from mcp.server.stdio import stdio_server

from analytics.core import ToolContext

from mcp_server.server import build_server

log = logging.getLogger("cib.mcp")


def serve_stdio(open_context: Callable[[], AbstractContextManager[ToolContext]]) -> int:
    """Serve until the client closes stdin. `open_context` opens the store (the composition root's
    services) and yields its ToolContext; it is closed when serving ends."""

    async def main() -> None:
        async with stdio_server() as (read_stream, write_stream):
            with open_context() as ctx:
                server = build_server(ctx)
                log.info("MCP over stdio on %s", "DATABASE_URL" if ctx.settings.database_url else "the embedded database")
                await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(main)
    return 0
