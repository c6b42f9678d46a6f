"""The httpx transport under the Gorgias REST client: HTTP/1.1 keep-alive over the standard library's
`http.client`, one connection per worker thread. It skips httpcore/h11's layers, which were about
half of the worker's CPU per posted note (bench/bench_gorgias.py): ~0.36 → ~0.26 ms per request."""
from __future__ import annotations

import http.client
import select
import socket
import threading

import httpx


class KeepAliveTransport(httpx.BaseTransport):
    """One keep-alive connection to the base URL's host per thread (http.client connections are not
    thread-safe); errors are raised as httpx's own exceptions, so the client handles them as before."""

    def __init__(self, base_url: str, timeout: float) -> None:
        url = httpx.URL(base_url)
        if url.scheme not in ("http", "https"):
            raise ValueError(f"the Gorgias base URL must be http(s), not {base_url!r}")
        self.scheme, self.host, self.timeout = url.scheme, url.host, timeout
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self._ssl = httpx.create_ssl_context(trust_env=False) if url.scheme == "https" else None
        self._local = threading.local()
        self._open: set[http.client.HTTPConnection] = set()
        self._lock = threading.Lock()

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.sock is not None and _closed_by_peer(conn.sock):
            conn.close()      # the server dropped the idle connection: reconnect rather than fail the post
        if conn is None:
            if self._ssl is not None:
                conn = http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout, context=self._ssl)
            else:
                conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            self._local.conn = conn
            with self._lock:
                self._open.add(conn)
        return conn

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.host != self.host or (request.url.port or self.port) != self.port:
            raise httpx.UnsupportedProtocol(f"this transport only talks to {self.host}:{self.port}, not {request.url}")
        conn = self._connection()
        try:
            if conn.sock is None:
                conn.connect()
                conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)   # no ACK stall between writes
            # http.client adds Host / Accept-Encoding itself unless given: httpx has set both.
            conn.request(request.method, request.url.raw_path.decode("ascii"), body=request.read(),
                         headers=dict(request.headers.multi_items()))
            response = conn.getresponse()
            content = response.read()
        except TimeoutError as exc:
            conn.close()
            raise httpx.ReadTimeout(f"no answer within {self.timeout:g} s", request=request) from exc
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            kind = httpx.ConnectError if isinstance(exc, ConnectionRefusedError) else httpx.RemoteProtocolError
            raise kind(f"{type(exc).__name__}: {exc}", request=request) from exc
        if response.will_close:
            conn.close()
        # The body as received: httpx decodes any Content-Encoding when the client reads it.
        return httpx.Response(response.status, headers=response.getheaders(), stream=httpx.ByteStream(content),
                              request=request)

    def close(self) -> None:
        with self._lock:
            conns, self._open = self._open, set()
        for conn in conns:
            conn.close()


def _closed_by_peer(sock) -> bool:
    """An idle keep-alive socket that reads as ready has been closed (or broken) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)
