"""A loopback fake of the Gorgias REST API for tests and the benchmark: it checks Basic auth,
records posted ticket messages, lists them back, and can be scripted to answer 429 with
Retry-After, 5xx, or to hang after recording a note (a crash mid-post)."""
from __future__ import annotations

import base64
import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_TICKET_PATH = re.compile(r"^/api/tickets/(\d+)(/messages|/tags)?/?$")


class FakeGorgias:
    def __init__(self, username: str = "agent@store.test", api_key: str = "test-api-key") -> None:
        self.expected_auth = "Basic " + base64.b64encode(f"{username}:{api_key}".encode()).decode()
        self.lock = threading.Lock()
        self.posted = threading.Condition(self.lock)
        self.messages: dict[int, list[dict]] = {}     # ticket id -> messages, in order
        self.requests: list[dict] = []                # every request: method, path, json, time
        self.tags: dict[int, list[str]] = {}
        self.tickets: dict[int, dict] = {}
        self.script: deque[tuple[int, dict]] = deque()  # (status, headers) answered before normal handling
        self.always_status: int | None = None
        self.hang_after_post = threading.Event()        # set: record the note, then never answer
        self.fail_after_post: deque[int] = deque()      # statuses answered *after* recording a note (a 504 that stored it)
        self.release = threading.Event()
        self._next_id = 9_000_000
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True   # headers and body go out as two writes: avoid the 40 ms ACK stall

            def log_message(self, *args):  # keep pytest output clean
                pass

            def _send(self, status: int, body: object = None, headers: dict | None = None) -> None:
                data = json.dumps(body if body is not None else {}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw else None
                with fake.lock:
                    fake.requests.append({"method": method, "path": self.path, "json": body, "at": time.monotonic()})
                    scripted = fake.script.popleft() if fake.script else None
                if self.headers.get("Authorization") != fake.expected_auth:
                    return self._send(401, {"error": "bad credentials"})
                if scripted is not None:
                    return self._send(scripted[0], {"error": "scripted"}, scripted[1])
                if fake.always_status is not None:
                    return self._send(fake.always_status, {"error": "scripted"})
                match = _TICKET_PATH.match(self.path.split("?")[0])
                if not match:
                    return self._send(404, {"error": f"no route {self.path}"})
                ticket_id, sub = int(match.group(1)), match.group(2)
                if sub == "/messages" and method == "GET":
                    with fake.lock:
                        data = list(fake.messages.get(ticket_id, []))
                    return self._send(200, {"data": data, "meta": {"next_cursor": None}})
                if sub == "/messages" and method == "POST":
                    with fake.lock:
                        fake._next_id += 1
                        message = {**body, "id": fake._next_id, "ticket_id": ticket_id}
                        fake.messages.setdefault(ticket_id, []).append(message)
                        fake.posted.notify_all()
                    if fake.hang_after_post.is_set():
                        fake.release.wait(30)
                        return
                    with fake.lock:
                        failed = fake.fail_after_post.popleft() if fake.fail_after_post else None
                    if failed is not None:
                        return self._send(failed, {"error": "gateway timeout"})
                    return self._send(201, message)
                if sub == "/tags" and method == "POST":
                    with fake.lock:
                        fake.tags.setdefault(ticket_id, []).extend(body.get("names", []))
                    return self._send(201, {})
                if sub is None and method == "PUT":
                    with fake.lock:
                        fake.tickets.setdefault(ticket_id, {}).update(body)
                    return self._send(200, {"id": ticket_id, **fake.tickets[ticket_id]})
                return self._send(405, {"error": f"{method} {self.path}"})

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

            def do_PUT(self):
                self._handle("PUT")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeGorgias":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    # --- what tests read ---------------------------------------------------------------------------
    def notes(self, ticket_id: int | None = None) -> list[dict]:
        with self.lock:
            tickets = [ticket_id] if ticket_id is not None else list(self.messages)
            return [m for t in tickets for m in self.messages.get(t, []) if m.get("channel") == "internal-note"]

    def wait_for_notes(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        with self.posted:
            while sum(len(v) for v in self.messages.values()) < count and time.monotonic() < deadline:
                self.posted.wait(max(0.0, deadline - time.monotonic()))
        return self.notes()

    def post_requests(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["method"] == "POST" and r["path"].endswith("/messages")]


# --- webhook payloads, written from Gorgias's documented ticket and message fields ---------------

def ticket_payload(ticket_id: int, message_id: int, *, body: str = "Hello, I have a question about my order.",
                   shape: str = "ticket_message", channel: str = "email", via: str | None = None,
                   source_type: str | None = None, from_address: str | None = None,
                   sender_email: str | None = None, sender_name: str | None = "A Customer",
                   from_agent: bool = False, public: bool = True, subject: str | None = "My order",
                   status: str = "open", spam: bool = False, tags: tuple[str, ...] = (),
                   customer: dict | None = None) -> dict:
    """A webhook body. shape: 'ticket_message' ({ticket, message}) or 'ticket_with_messages'
    ({ticket: {..., messages: [...]}}). `customer` is Gorgias's customer object (email, channels,
    external_id, integrations...)."""
    customer = customer if customer is not None else {"id": 77, "email": sender_email, "name": sender_name}
    from_address = from_address or sender_email
    message = {
        "id": message_id, "ticket_id": ticket_id, "channel": channel, "via": via or channel,
        "from_agent": from_agent, "public": public,
        "sender": {"id": 77, "email": sender_email, "name": sender_name},
        "source": {"type": source_type or channel, "from": {"address": from_address, "name": sender_name},
                   "to": [{"address": "support@store.test", "name": "Support"}]},
        "subject": subject, "body_text": body, "body_html": f"<p>{body}</p>", "stripped_text": body,
        "created_datetime": "2024-07-01T10:00:00+00:00",
    }
    ticket = {
        "id": ticket_id, "status": status, "spam": spam, "channel": channel, "via": via or channel,
        "subject": subject, "priority": "normal", "tags": [{"id": i, "name": t} for i, t in enumerate(tags)],
        "customer": customer,
    }
    if shape == "ticket_with_messages":
        earlier = {**message, "id": message_id - 1, "body_text": "earlier message", "stripped_text": "earlier message",
                   "created_datetime": "2024-06-30T09:00:00+00:00"}
        return {"ticket": {**ticket, "messages": [earlier, message]}}
    return {"ticket": ticket, "message": message}


# --- the real server (uvicorn on a loopback port) with the Gorgias routes and worker ------------

class RunningServer:
    """uvicorn serving gorgias.standalone.build_app(service) in a thread, on a free loopback port."""

    def __init__(self, service) -> None:
        import socket

        import uvicorn

        from gorgias.standalone import build_app

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.service = service
        self.server = uvicorn.Server(uvicorn.Config(build_app(service), host="127.0.0.1", port=self.port,
                                                    log_level="warning", access_log=False, lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "RunningServer":
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        if not self.server.started:
            raise RuntimeError("uvicorn did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
