"""The Gorgias client's keep-alive transport (gorgias/transport.py) at the wire level, against a raw
loopback HTTP/1.1 server: connection reuse, a connection the server dropped, chunked and gzipped
answers, one connection per thread, and timeouts/refusals surfacing as retriable client errors."""
from __future__ import annotations

import gzip
import json
import socket
import threading

import pytest
from pydantic import SecretStr

from gorgias.client import GorgiasAPIError, GorgiasClient


class RawServer:
    """Answers each request with `{"id": n}`; `mode` says how: keep-alive (default), `drop` (closes the
    connection after each answer without saying so), `chunked-gzip`, or `hang` (never answers)."""

    def __init__(self, mode: str = "keep-alive") -> None:
        self.mode, self.connections, self.requests = mode, 0, []
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.lock, self.stop = threading.Lock(), threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        reader = conn.makefile("rb")
        with conn:
            while True:
                request_line = reader.readline()
                if not request_line:
                    return
                headers = {}
                while (line := reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode("latin-1").partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = reader.read(int(headers.get("content-length", 0)))
                with self.lock:
                    self.requests.append((request_line.decode().split()[:2], headers, body))
                    number = len(self.requests)
                if self.mode == "hang":
                    self.stop.wait(5)
                    return
                payload = json.dumps({"id": number}).encode()
                if self.mode == "chunked-gzip":
                    packed = gzip.compress(payload)
                    half = len(packed) // 2
                    chunks = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (packed[:half], packed[half:]))
                    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
                                 b"Content-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n")
                else:
                    conn.sendall(b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                 % (len(payload), payload))
                if self.mode == "drop":
                    return      # closed without "Connection: close": the client finds out on reuse

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


@pytest.fixture
def server(request):
    raw = RawServer(getattr(request, "param", "keep-alive"))
    yield raw
    raw.close()


def client_for(settings, url: str, **extra) -> GorgiasClient:
    return GorgiasClient(settings.model_copy(update={
        "gorgias_base_url": url, "gorgias_username": "agent@store.test",
        "gorgias_api_key": SecretStr("test-api-key"), **extra}))


def test_notes_reuse_one_connection_with_basic_auth_and_the_json_body(settings, server):
    client = client_for(settings, server.url)
    try:
        ids = [client.post_internal_note(100 + n, f"<p>{n}</p>", str(n))["id"] for n in range(5)]
    finally:
        client.close()
    assert ids == [1, 2, 3, 4, 5] and server.connections == 1
    (method, path), headers, body = server.requests[2]
    assert (method, path) == ("POST", "/api/tickets/102/messages")
    assert headers["authorization"].startswith("Basic ") and headers["host"] == server.url.removeprefix("http://")
    assert json.loads(body)["body_text"] == "2" and json.loads(body)["channel"] == "internal-note"


@pytest.mark.parametrize("server", ["drop"], indirect=True)
def test_a_connection_the_server_dropped_is_reopened_not_failed(settings, server):
    client = client_for(settings, server.url)
    try:
        got = []
        for n in range(3):
            got.append(client.post_internal_note(7, "<p>x</p>", "x")["id"])
            # let the server's close reach us before the next post, as an idle keep-alive timeout would
            threading.Event().wait(0.05)
    finally:
        client.close()
    assert got == [1, 2, 3] and server.connections == 3 and len(server.requests) == 3


@pytest.mark.parametrize("server", ["chunked-gzip"], indirect=True)
def test_chunked_gzipped_answers_are_decoded(settings, server):
    client = client_for(settings, server.url)
    try:
        assert client.post_internal_note(1, "<p>x</p>", "x") == {"id": 1}
        assert client.post_internal_note(2, "<p>x</p>", "x") == {"id": 2}
    finally:
        client.close()
    assert server.connections == 1


def test_each_thread_has_its_own_connection(settings, server):
    client = client_for(settings, server.url)
    results: list[int] = []

    def post_twice() -> None:
        for _ in range(2):
            results.append(client.post_internal_note(1, "<p>x</p>", "x")["id"])

    try:
        threads = [threading.Thread(target=post_twice) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
    finally:
        client.close()
    assert sorted(results) == [1, 2, 3, 4, 5, 6] and server.connections == 3


@pytest.mark.parametrize("server", ["hang"], indirect=True)
def test_no_answer_is_a_retriable_timeout(settings, server):
    client = client_for(settings, server.url, gorgias_timeout_seconds=0.3)
    try:
        with pytest.raises(GorgiasAPIError) as failed:
            client.post_internal_note(1, "<p>x</p>", "x")
    finally:
        client.close()
    assert failed.value.retriable and failed.value.status is None and "ReadTimeout" in str(failed.value)


def test_nobody_listening_is_a_retriable_connect_error(settings):
    with socket.create_server(("127.0.0.1", 0)) as sock:
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    client = client_for(settings, url)
    try:
        with pytest.raises(GorgiasAPIError) as failed:
            client.post_internal_note(1, "<p>x</p>", "x")
    finally:
        client.close()
    assert failed.value.retriable and "ConnectError" in str(failed.value)
