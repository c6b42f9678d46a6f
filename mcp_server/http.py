"""MCP over streamable HTTP at /mcp for `serve`: a bearer token (MCP_TOKEN, compared in constant
time, 401 otherwise) and a per-client rate limit (analytics.limits; 429 with Retry-After) in front of the SDK's
session manager, whose lifespan the web app runs inside its own."""
from __future__ import annotations

import hmac
import logging
import math
from dataclasses import dataclass

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.routing import Route

from analytics.core import ToolContext
from analytics.limits import RateLimiter
from observability import metrics

from mcp_server.server import build_server

log = logging.getLogger("cib.mcp")

MCP_PATH = "/mcp"


@dataclass
class McpHttp:
    """What `serve` needs: the route to add and the session manager to run in its lifespan."""

    routes: list[Route]
    session_manager: StreamableHTTPSessionManager


class BearerGuard:
    """ASGI wrapper: `Authorization: Bearer <token>` or 401; then the rate limit or 429."""

    def __init__(self, inner, token: str, limiter: RateLimiter) -> None:
        self.inner, self.limiter = inner, limiter
        self._token = token.encode()

    async def __call__(self, scope, receive, send) -> None:
        headers = dict(scope.get("headers") or [])
        given = headers.get(b"authorization", b"")
        scheme, _, credential = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(credential.strip(), self._token):
            await _plain(send, 401, b"missing or wrong bearer token",
                         [(b"www-authenticate", b'Bearer realm="mcp"')])
            return
        client = scope.get("client") or ("unknown", 0)
        wait = await self.limiter.check_async(client[0])
        if wait > 0:
            metrics.RATE_LIMITED.labels(self.limiter.name).inc()
            await _plain(send, 429, b"too many requests", [(b"retry-after", str(math.ceil(wait)).encode())])
            return
        await self.inner(scope, receive, send)


async def _plain(send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


def mcp_http(ctx: ToolContext, token: str, *, requests_per_minute: int) -> McpHttp:
    """The /mcp route (exact path and with a trailing slash: no Starlette Mount, so no 307 redirect
    from POST /mcp to /mcp/) guarding the SDK's streamable HTTP transport."""
    server = build_server(ctx)
    # No DNS-rebinding host check here: `serve` listens on any interface behind a bearer token.
    manager = StreamableHTTPSessionManager(app=server)
    # Per client address, in Redis when configured (so every instance behind a balancer counts together).
    limiter = RateLimiter("mcp", requests_per_minute, 60.0, cache=ctx.cache)
    endpoint = BearerGuard(StreamableHTTPASGIApp(manager), token, limiter)
    routes = [Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]),
              Route(MCP_PATH + "/", endpoint=endpoint, methods=["GET", "POST", "DELETE"])]
    return McpHttp(routes=routes, session_manager=manager)
