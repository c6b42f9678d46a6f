"""A loopback fake of the Anthropic Messages API (`POST /v1/messages`) for tests, driven through
the real `anthropic` SDK with `base_url`. Each test scripts the responses in order: tool_use,
end_turn text, max_tokens, an HTTP error status, or a hang (for client timeouts). Every request
body and its headers are recorded."""
from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

_ids = itertools.count(1)


def tool_use(*calls: tuple[str, dict[str, Any]], text: str = "", usage: dict[str, int] | None = None) -> dict[str, Any]:
    """A response asking for one or more tools: tool_use(("lookup_customer", {"customer": "C-1"}))."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for name, arguments in calls:
        content.append({"type": "tool_use", "id": f"toolu_{next(_ids):06d}", "name": name, "input": arguments})
    return {"stop_reason": "tool_use", "content": content, "usage": usage}


def end_turn(text: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {"stop_reason": "end_turn", "content": [{"type": "text", "text": text}], "usage": usage}


def max_tokens(text: str, usage: dict[str, int] | None = None) -> dict[str, Any]:
    return {"stop_reason": "max_tokens", "content": [{"type": "text", "text": text}] if text else [], "usage": usage}


def error(status: int = 500, message: str = "Internal server error") -> dict[str, Any]:
    return {"error_status": status, "message": message}


def hang(seconds: float = 5.0) -> dict[str, Any]:
    """Hold the request open (longer than the client's timeout), then answer end_turn."""
    return {"hang": seconds}


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class FakeAnthropic:
    """Start with `with FakeAnthropic() as fake:`; `fake.url` is the SDK's base_url.
    `script` is consumed one response per request; when it runs out, `default` answers."""

    script: list[dict[str, Any]] = field(default_factory=list)
    default: dict[str, Any] | Callable[[dict[str, Any]], dict[str, Any]] | None = None
    requests: list[Recorded] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._seen_prefixes: set[str] = set()

    # -- lifecycle -------------------------------------------------------------------------------

    def __enter__(self) -> "FakeAnthropic":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 - http.server naming
                length = int(self.headers.get("content-length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                if self.path.split("?")[0] != "/v1/messages":
                    return self._send(404, {"type": "error", "error": {"type": "not_found_error", "message": self.path}})
                status, payload, headers = fake._respond(body, dict(self.headers))
                self._send(status, payload, headers)

            def _send(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.send_header("request-id", f"req_{next(_ids):06d}")
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- responses -------------------------------------------------------------------------------

    def _respond(self, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, dict[str, Any], dict[str, str]]:
        with self._lock:
            self.requests.append(Recorded(body=body, headers={k.lower(): v for k, v in headers.items()}))
            if self.script:
                spec = self.script.pop(0)
            elif callable(self.default):
                spec = self.default(body)
            elif self.default is not None:
                spec = self.default
            else:
                spec = error(500, "fake Anthropic: script exhausted")
        if "hang" in spec:
            self._release.wait(spec["hang"])
            spec = end_turn("(late answer)")
        if "error_status" in spec:
            kind = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_error",
                    529: "overloaded_error"}.get(spec["error_status"], "api_error")
            # A tiny retry-after keeps SDK retries fast in tests.
            return spec["error_status"], {"type": "error", "error": {"type": kind, "message": spec["message"]}}, \
                {"retry-after-ms": "10"}
        return 200, {
            "id": f"msg_{next(_ids):06d}", "type": "message", "role": "assistant", "model": body.get("model"),
            "content": spec["content"], "stop_reason": spec["stop_reason"], "stop_sequence": None,
            "usage": spec.get("usage") or self._usage(body),
        }, {}

    def _usage(self, body: dict[str, Any]) -> dict[str, int]:
        """Deterministic token counts; the cached prefix (system + tools marked with cache_control)
        is 'written' on first sight and 'read' afterwards, as the real API reports it."""
        prefix = json.dumps([body.get("system"), body.get("tools")], sort_keys=True)
        cached = _has_cache_control(body)
        input_tokens = max(1, len(json.dumps(body.get("messages"))) // 4)
        usage = {"input_tokens": input_tokens, "output_tokens": 20,
                 "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}
        if cached:
            size = max(1, len(prefix) // 4)
            if prefix in self._seen_prefixes:
                usage["cache_read_input_tokens"] = size
            else:
                self._seen_prefixes.add(prefix)
                usage["cache_creation_input_tokens"] = size
        else:
            usage["input_tokens"] += max(1, len(prefix) // 4)
        return usage


def _has_cache_control(body: dict[str, Any]) -> bool:
    system = body.get("system")
    tools = body.get("tools") or []
    in_system = isinstance(system, list) and any("cache_control" in block for block in system)
    return in_system or any("cache_control" in tool for tool in tools)
