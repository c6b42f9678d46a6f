"""A loopback WebSocket server that speaks Slack's Socket Mode envelope protocol: it greets with
`hello`, sends `events_api` / `slash_commands` / `interactive` envelopes and records the acks
(`{"envelope_id": …, "payload": …}`) the app sends back."""
from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import serve


class FakeSocketMode:
    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self.ack_times: dict[str, float] = {}
        self.sent_at: dict[str, float] = {}
        self._connections: list[Any] = []
        self._cond = threading.Condition()
        self._ids = itertools.count(1)
        self.server = serve(self._session, "127.0.0.1", 0)
        self.url = f"ws://127.0.0.1:{self.server.socket.getsockname()[1]}/link/?ticket=fake"
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-socket-mode", daemon=True)

    def start(self) -> "FakeSocketMode":
        self._thread.start()
        return self

    def stop(self) -> None:
        for connection in list(self._connections):
            try:
                connection.close()
            except Exception:  # noqa: BLE001 - already gone
                pass
        self.server.shutdown()

    def _session(self, connection) -> None:
        connection.send(json.dumps({"type": "hello", "num_connections": 1,
                                    "connection_info": {"app_id": "A0FAKE"},
                                    "debug_info": {"host": "fake", "approximate_connection_time": 3600}}))
        with self._cond:
            self._connections.append(connection)
            self._cond.notify_all()
        try:
            for message in connection:
                ack = json.loads(message)
                envelope_id = ack.get("envelope_id")
                if envelope_id:
                    with self._cond:
                        self.acks[envelope_id] = ack
                        self.ack_times[envelope_id] = time.monotonic()
                        self._cond.notify_all()
        except ConnectionClosed:
            pass
        finally:
            with self._cond:
                if connection in self._connections:
                    self._connections.remove(connection)

    def wait_connected(self, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: self._connections, timeout):
                raise AssertionError("the app did not connect to the fake Socket Mode server")

    def send(self, kind: str, payload: dict[str, Any], *, retry_attempt: int = 0) -> str:
        """Send one envelope (`events_api`, `slash_commands`, `interactive`); returns its id."""
        envelope_id = f"env-{next(self._ids)}"
        envelope = {"envelope_id": envelope_id, "type": kind, "payload": payload,
                    "accepts_response_payload": kind != "events_api",
                    "retry_attempt": retry_attempt, "retry_reason": "timeout" if retry_attempt else ""}
        with self._cond:
            connection = self._connections[-1]
            self.sent_at[envelope_id] = time.monotonic()
        connection.send(json.dumps(envelope))
        return envelope_id

    def wait_ack(self, envelope_id: str, timeout: float = 5.0) -> dict[str, Any]:
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self.acks, timeout):
                raise AssertionError(f"envelope {envelope_id} was not acknowledged within {timeout}s")
            return self.acks[envelope_id]
