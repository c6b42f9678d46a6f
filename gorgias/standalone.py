"""Serving only the Gorgias webhook and its worker (no Slack), as `python app.py gorgias serve`
runs it: for a helpdesk-only deployment, the crash-recovery test and the benchmark. `python app.py
serve` mounts the same routes next to Slack.
"""
from __future__ import annotations

import contextlib
import importlib.util
import signal
import threading

from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gorgias.service import GorgiasService
from observability.logs import CorrelationMiddleware


def build_app(service: GorgiasService) -> Starlette:
    @contextlib.asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.stop()

    async def health(request):
        return PlainTextResponse("ok")

    web = Starlette(routes=[*service.routes(), Route("/health", health)], lifespan=lifespan)
    web.add_middleware(CorrelationMiddleware)
    return web


def fast_http() -> dict:
    """httptools and uvloop when installed: measured to cut intake's per-request CPU against h11
    and asyncio's own loop (bench/bench_gorgias.py)."""
    options = {}
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    return options


def work_until_signalled(service: GorgiasService) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    service.start()
    try:
        while not stop.is_set():
            # Intake in the web process wakes this worker through LISTEN/NOTIFY.
            stop.wait(0.5)
    finally:
        service.stop()
    return 0

