"""Crash safety: a server process SIGKILLed after acknowledging webhooks loses nothing, and a new
worker posts each note exactly once — also when the crash came after Gorgias recorded the note
but before the worker could mark it done."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from analytics.cache import Cache
from analytics.core import ToolContext
from gorgias.payload import parse_event
from gorgias.service import GorgiasService
from wiring import Services
from wiring.web import gorgias_service
from tests.analytics_fixture import load_fixture
from tests.fake_gorgias import FakeGorgias, ticket_payload

SECRET = "crash-test-secret"
ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(db_url: str, fake: FakeGorgias, **env_extra: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "GORGIAS_", "REDIS_"))}
    env.update({"DATABASE_URL": db_url, "GORGIAS_WEBHOOK_SECRET": SECRET, "GORGIAS_BASE_URL": fake.url,
                "GORGIAS_USERNAME": "agent@store.test", "GORGIAS_API_KEY": "test-api-key",
                "PSEUDONYM_SECRET": "test-pseudonym-secret", "LOG_LEVEL": "WARNING", **env_extra})
    proc = subprocess.Popen([sys.executable, "app.py", "gorgias", "serve", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/health", timeout=0.5).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("standalone server did not start: " + proc.stderr.read().decode()[-2000:])


def rows(db) -> list[dict]:
    with db.cursor() as cur:
        cur.execute("SELECT event_id, ticket_id, status, attempts, note_message_id FROM gorgias_inbox ORDER BY event_id")
        return cur.fetchall()


def new_worker_service(settings, db, fake, **extra) -> GorgiasService:
    cfg = settings.model_copy(update={
        "database_url": db.url, "gorgias_base_url": fake.url, "gorgias_username": "agent@store.test",
        "gorgias_api_key": SecretStr("test-api-key"), "gorgias_webhook_secret": SecretStr(SECRET),
        "anthropic_api_key": None, **extra})
    return gorgias_service(Services(settings=cfg, db=db, ctx=ToolContext(db=db, settings=cfg, cache=Cache(None))))


def wait_all_done(db, count: int, timeout: float = 15) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = rows(db)
        if len(found) == count and all(r["status"] == "done" for r in found):
            return found
        time.sleep(0.05)
    raise AssertionError(f"not all done: {rows(db)}")


@pytest.fixture
def store_db(fresh_db, settings):
    load_fixture(fresh_db, settings)
    return fresh_db


def test_killed_after_ack_then_restarted_posts_each_note_once(store_db, settings):
    with FakeGorgias() as fake:
        # Intake only: the kill is guaranteed to land between the 200 and any note.
        proc, url = start_server(store_db.url, fake, GORGIAS_WORKER_THREADS="0")
        try:
            for n in range(5):
                payload = ticket_payload(61_000 + n, 810_000 + n, sender_email="oliver.brandt@example.com")
                response = httpx.post(url + "/gorgias/webhook", json=payload, headers={"X-Webhook-Token": SECRET})
                assert response.status_code == 200 and response.json()["status"] == "queued"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        assert [r["status"] for r in rows(store_db)] == ["pending"] * 5 and fake.notes() == []

        service = new_worker_service(settings, store_db, fake)
        service.start()
        try:
            done = wait_all_done(store_db, 5)
            # A redelivery after the restart collapses onto the stored event.
            service.inbox.enqueue(parse_event(json.dumps(ticket_payload(61_000, 810_000)).encode()))
            time.sleep(0.7)
        finally:
            service.stop()
    notes = fake.notes()
    assert sorted(n["ticket_id"] for n in notes) == list(range(61_000, 61_005))
    assert {r["note_message_id"] for r in done} == {n["id"] for n in notes}


def test_killed_mid_post_the_new_worker_finds_the_note_instead_of_reposting(store_db, settings):
    with FakeGorgias() as fake:
        fake.hang_after_post.set()   # Gorgias records the note, the answer never comes back
        proc, url = start_server(store_db.url, fake, GORGIAS_LEASE_SECONDS="1")
        try:
            payload = ticket_payload(62_000, 820_000, sender_email="priya.raman@example.com")
            assert httpx.post(url + "/gorgias/webhook", json=payload,
                              headers={"X-Webhook-Token": SECRET}).status_code == 200
            fake.wait_for_notes(1, timeout=15)
            assert rows(store_db)[0]["status"] == "processing"
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        fake.hang_after_post.clear()

        service = new_worker_service(settings, store_db, fake)
        service.start()
        try:
            [row] = wait_all_done(store_db, 1, timeout=20)   # once the dead worker's 1 s lease runs out
        finally:
            service.stop()
        notes = fake.notes(62_000)
        assert len(notes) == 1 and row["attempts"] == 2 and row["note_message_id"] == notes[0]["id"]
        assert len(fake.post_requests()) == 1
