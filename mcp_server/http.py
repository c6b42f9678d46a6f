"""MCP over streamable HTTP at /mcp for `serve`: a bearer token (MCP_TOKEN, compared in constant
time, 401 otherwise) and a per-client token bucket (429 with Retry-After) in front of the SDK's
session manager, whose lifespan the web app runs inside its own."""
from __future__ import annotations

import hmac
import logging
import math
import threading
import time
from dataclasses import dataclass

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.routing import Route

from analytics.core import ToolContext

from mcp_server.server import build_server

log = logging.getLogger("cib.mcp")

MCP_PATH = "/mcp"


class TokenBucket:
    """`rate_per_minute` requests per key, in bursts of up to `burst`; thread-safe."""

    def __init__(self, rate_per_minute: int, burst: int | None = None, clock=time.monotonic) -> None:
        self.per_second = rate_per_minute / 60.0
        self.burst = float(burst or rate_per_minute)
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}   # key -> (tokens, when)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when the request may go ahead, else the seconds to wait before the next one."""
        now = self.clock()
        with self._lock:
            tokens, when = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - when) * self.per_second)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > 10_000:   # forget idle clients (their buckets are full again)
                idle = self.burst / self.per_second
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < idle}
            return (1.0 - tokens) / self.per_second


@dataclass
class McpHttp:
    """What `serve` needs: the route to add and the session manager to run in its lifespan."""

    routes: list[Route]
    session_manager: StreamableHTTPSessionManager


class BearerGuard:
    """ASGI wrapper: `Authorization: Bearer <token>` or 401; then the rate limit or 429."""

    def __init__(self, inner, token: str, limiter: TokenBucket) -> None:
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
        wait = self.limiter.take(client[0])
        if wait > 0:
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
    endpoint = BearerGuard(StreamableHTTPASGIApp(manager), token, TokenBucket(requests_per_minute))
    routes = [Route(MCP_PATH, endpoint=endpoint, methods=["GET", "POST", "DELETE"]),
              Route(MCP_PATH + "/", endpoint=endpoint, methods=["GET", "POST", "DELETE"])]
    return McpHttp(routes=routes, session_manager=manager)
