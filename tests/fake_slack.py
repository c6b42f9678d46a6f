"""A loopback fake of the Slack Web API for tests and the benchmark: the methods the bot calls,
recorded with their arguments, plus the file upload URL (files_upload_v2) and response_urls.
Modes: `ratelimit(method, times)` answers 429 `ratelimited` with Retry-After; `reject_blocks(type)`
answers `invalid_blocks` for messages holding that block type; `not_in_channel(channel)`."""
from __future__ import annotations

import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, urlparse

_JSON_ARGS = ("blocks", "view", "prompts", "files", "attachments", "metadata")


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    at: float = field(default_factory=time.monotonic)


class FakeSlack:
    def __init__(self, *, socket_url: str | None = None, retry_after: int = 1) -> None:
        self.calls: list[Call] = []
        self.uploads: dict[str, bytes] = {}
        self.responses: list[dict[str, Any]] = []   # bodies posted to response_urls
        self.socket_url = socket_url
        self.retry_after = retry_after
        self._ratelimits: dict[str, int] = {}
        self._rejected_blocks: set[str] = set()
        self._not_in_channel: set[str] = set()
        self._failing: dict[str, str] = {}
        self._lock = threading.Condition()
        self._ts = itertools.count(1)
        self._files = itertools.count(1)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output clean
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                status, headers, body = fake._handle(self.path, self.headers, raw)
                payload = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.api_url = self.url + "/api/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-slack", daemon=True)

    # --- lifecycle ---------------------------------------------------------------------------
    def start(self) -> "FakeSlack":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # --- modes ------------------------------------------------------------------------------
    def ratelimit(self, method: str, times: int = 1) -> None:
        self._ratelimits[method] = times

    def reject_blocks(self, block_type: str) -> None:
        self._rejected_blocks.add(block_type)

    def not_in_channel(self, channel: str) -> None:
        self._not_in_channel.add(channel)

    def fail_method(self, method: str, error: str) -> None:
        """Answer every call of `method` with `{"ok": false, "error": error}`."""
        self._failing[method] = error

    def response_url(self, name: str = "cmd") -> str:
        return f"{self.url}/respond/{name}"

    # --- inspection -------------------------------------------------------------------------
    def calls_to(self, method: str, predicate: Callable[[dict], bool] | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.method == method and (predicate is None or predicate(c.args))]

    def wait_for(self, method: str, predicate: Callable[[dict], bool] | None = None, *, count: int = 1,
                 timeout: float = 10.0) -> list[Call]:
        """Wait until `count` matching calls were made (listeners run after the ack)."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [c for c in self.calls if c.method == method and (predicate is None or predicate(c.args))]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    methods = [c.method for c in self.calls]
                    raise AssertionError(f"no {count}× {method} within {timeout}s; calls so far: {methods}")
                self._lock.wait(remaining)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.responses.clear()

    # --- the wire ---------------------------------------------------------------------------
    def _record(self, method: str, args: dict[str, Any]) -> None:
        with self._lock:
            self.calls.append(Call(method, args))
            self._lock.notify_all()

    def _handle(self, path: str, headers, raw: bytes):
        url = urlparse(path)
        if url.path.startswith("/upload/"):
            file_id = url.path.rsplit("/", 1)[1]
            self.uploads[file_id] = raw
            self._record("upload", {"file_id": file_id, "size": len(raw)})
            return 200, {}, b"OK - " + str(len(raw)).encode()
        if url.path.startswith("/respond/"):
            body = json.loads(raw or b"{}")
            with self._lock:
                self.responses.append(body)
            self._record("response_url", body)
            return 200, {}, b"ok"
        if not url.path.startswith("/api/"):
            return 404, {}, {"ok": False, "error": "unknown_path"}
        method = url.path[len("/api/"):]
        args = self._parse(headers, raw, url.query)
        if not (headers.get("Authorization") or "").startswith("Bearer "):
            self._record(method, args)
            return 200, {}, {"ok": False, "error": "not_authed"}
        remaining = self._ratelimits.get(method, 0)
        if remaining:
            self._ratelimits[method] = remaining - 1
            self._record(method + ":ratelimited", args)
            return 429, {"Retry-After": str(self.retry_after)}, {"ok": False, "error": "ratelimited"}
        self._record(method, args)
        return 200, {}, self._answer(method, args)

    @staticmethod
    def _parse(headers, raw: bytes, query: str) -> dict[str, Any]:
        args: dict[str, Any] = {k: v[0] for k, v in parse_qs(query).items()}
        if "json" in (headers.get("Content-Type") or ""):
            args.update(json.loads(raw or b"{}"))
        elif raw:
            args.update({k: v[0] for k, v in parse_qs(raw.decode()).items()})
        for key in _JSON_ARGS:
            if isinstance(args.get(key), str):
                try:
                    args[key] = json.loads(args[key])
                except ValueError:
                    pass
        return args

    def _block_types(self, blocks: Any) -> set[str]:
        return {b.get("type") for b in blocks or [] if isinstance(b, dict)}

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method in self._failing:
            return {"ok": False, "error": self._failing[method]}
        if method == "auth.test":
            return {"ok": True, "url": "https://fake.slack.com/", "team": "Fake", "user": "cib",
                    "team_id": "T0FAKE", "user_id": "UBOT", "bot_id": "BBOT"}
        if method == "apps.connections.open":
            return {"ok": True, "url": self.socket_url} if self.socket_url else {"ok": False, "error": "invalid_auth"}
        if method in ("chat.postMessage", "chat.update"):
            channel = str(args.get("channel", ""))
            if channel in self._not_in_channel:
                return {"ok": False, "error": "not_in_channel"}
            rejected = self._block_types(args.get("blocks")) & self._rejected_blocks
            if rejected:
                return {"ok": False, "error": "invalid_blocks",
                        "errors": [f"unsupported block type {t}" for t in sorted(rejected)]}
            if channel.startswith("U"):  # posting to a user id lands in the bot's DM with them
                channel = "D" + channel[1:]
            ts = args.get("ts") or f"{int(time.time())}.{next(self._ts):06d}"
            return {"ok": True, "channel": channel, "ts": ts,
                    "message": {"text": args.get("text"), "ts": ts, "thread_ts": args.get("thread_ts")}}
        if method == "chat.postEphemeral":
            return {"ok": True, "message_ts": f"{int(time.time())}.{next(self._ts):06d}"}
        if method in ("views.publish", "views.open"):
            view = args.get("view") or {}
            return {"ok": True, "view": dict(view, id=f"V{next(self._ts):08d}")}
        if method == "files.getUploadURLExternal":
            file_id = f"F{next(self._files):08d}"
            return {"ok": True, "upload_url": f"{self.url}/upload/{file_id}", "file_id": file_id}
        if method == "files.completeUploadExternal":
            files = args.get("files") or []
            return {"ok": True, "files": [{"id": f.get("id"), "title": f.get("title")} for f in files]}
        if method.startswith("assistant.threads.") or method.startswith("reactions."):
            return {"ok": True}
        if method == "files.info":
            return {"ok": True, "file": {"id": args.get("file")}}
        return {"ok": False, "error": "unknown_method"}
