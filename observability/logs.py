"""How the process logs: one setup for every command (JSON lines for a log collector, readable
text on a terminal) and the correlation id that ties together every line one request, webhook,
MCP call, CLI command or worker job writes, wherever in the code it is written."""
from __future__ import annotations

import contextlib
import contextvars
import logging
import re
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import IO, Iterator

from pythonjsonlogger.json import JsonFormatter

LOG_FORMATS = ("auto", "json", "text")

# Set by whoever starts a unit of work; read by CorrelationFilter on every record. A ContextVar
# follows a request through `await`s and into threads started with its context copied
# (run_in_threadpool, anyio.to_thread, ContextExecutor), never into unrelated work.
_correlation_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("correlation_id", default=None)

# An id given by a caller (X-Request-Id, a Slack event id) is kept only if it is short and plain,
# so nobody can write arbitrary text into every log line.
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"
JSON_FIELDS = "%(levelname)s %(name)s %(correlation_id)s %(message)s"


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def new_correlation_id(kind: str) -> str:
    """`kind-` and 12 random hex digits: `http-3f9c0a1b2c4d`, `cli-…`, `mcp-…`."""
    return f"{kind}-{uuid.uuid4().hex[:12]}"


def safe_correlation_id(given: object, kind: str) -> str:
    """`kind-given` when the caller's id is plain and short, else a fresh one."""
    if isinstance(given, (str, int)) and _SAFE_ID.fullmatch(str(given)):
        return f"{kind}-{given}"
    return new_correlation_id(kind)


@contextlib.contextmanager
def correlated(correlation_id: str) -> Iterator[str]:
    """Every log line written inside the block (this thread or task, and work it hands on with its
    context) carries `correlation_id`; the previous id is back afterwards."""
    token = _correlation_id.set(correlation_id)
    try:
        yield correlation_id
    finally:
        _correlation_id.reset(token)


class ContextExecutor(ThreadPoolExecutor):
    """A thread pool whose jobs run in a copy of the submitter's context, so the correlation id
    set where the work was handed on is the one its log lines carry."""

    def submit(self, fn, /, *args, **kwargs):
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)


class CorrelationMiddleware:
    """ASGI: every HTTP request (Slack's, a webhook, MCP, health) under its own correlation id,
    the caller's X-Request-Id when it is plain and short, echoed back in the response."""

    def __init__(self, inner) -> None:
        self.inner = inner

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.inner(scope, receive, send)
        given = next((v.decode("latin-1") for k, v in scope.get("headers") or [] if k == b"x-request-id"), None)
        request_id = given if given and _SAFE_ID.fullmatch(given) else new_correlation_id("http")

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode("latin-1"))]}
            await send(message)

        with correlated(request_id):
            await self.inner(scope, receive, send_with_id)


class CorrelationFilter(logging.Filter):
    """Stamps `correlation_id` on every record passing the handler (`-` outside any unit of work)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = _correlation_id.get() or "-"
        return True


class OutboundBodyFilter(logging.Filter):
    """Debug logging of the HTTP SDKs prints whole request bodies (the Anthropic SDK's "Request
    options" holds the prompt, which for a Gorgias draft names the customer). Keep the line, drop
    the body: the method and URL are what an operator needs."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("anthropic") and isinstance(record.msg, str) \
                and record.msg.startswith("Request options"):
            # logging unwraps a lone dict argument: record.args is then the dict itself.
            options = record.args if isinstance(record.args, dict) else (
                record.args[0] if isinstance(record.args, tuple) and record.args else None)
            if isinstance(options, dict):
                record.msg, record.args = "Request options: %s %s", (options.get("method"), options.get("url"))
        return True


def log_filters() -> list[logging.Filter]:
    """What every handler of the process applies (the test suite's capture handler too)."""
    return [CorrelationFilter(), OutboundBodyFilter()]


def use_json(log_format: str | None, stream: IO) -> bool:
    """JSON unless LOG_FORMAT=text, or LOG_FORMAT is unset/auto and the log stream is a terminal."""
    chosen = (log_format or "auto").lower()
    if chosen not in LOG_FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    if chosen == "auto":
        isatty = getattr(stream, "isatty", None)
        return not (isatty is not None and isatty())
    return chosen == "json"


_installed: logging.Handler | None = None   # the handler the last configure_logging call put on the root


def configure_logging(level: str | int, log_format: str | None = None, stream: IO | None = None) -> logging.Handler:
    """Put the process's one handler on the root logger, writing to `stream` (stderr: stdout belongs
    to the command's own output, and to the protocol for `mcp`); a second call replaces the first
    call's handler. Handlers others installed stay (an embedding program's, a test session's
    capture). Returns the handler."""
    global _installed
    stream = stream or sys.stderr
    handler = logging.StreamHandler(stream)
    if use_json(log_format, stream):
        # "time": ISO 8601 in UTC, what log collectors parse without configuration.
        handler.setFormatter(JsonFormatter(JSON_FIELDS, timestamp="time",
                                           rename_fields={"levelname": "level", "name": "logger"}))
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    for log_filter in log_filters():
        handler.addFilter(log_filter)
    root = logging.getLogger()
    if _installed is not None:
        root.removeHandler(_installed)
    root.addHandler(handler)
    _installed = handler
    root.setLevel(level.upper() if isinstance(level, str) else level)
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
    return handler
