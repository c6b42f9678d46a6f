"""Serve only the Gorgias webhook and its worker (no Slack): `python -m gorgias.standalone`.

For a helpdesk-only deployment, the crash-recovery test and the benchmark. `python app.py serve`
mounts the same routes next to Slack.
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import os
import signal
import sys
import threading

import uvicorn
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from gorgias.service import GorgiasService


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

    return Starlette(routes=[*service.routes(), Route("/health", health)], lifespan=lifespan)


def main(argv: list[str] | None = None) -> int:
    from settings import load_settings
    from sql import connect_database

    parser = argparse.ArgumentParser(prog="python -m gorgias.standalone")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=None, help="default: PORT")
    parser.add_argument("--worker-only", action="store_true",
                        help="no HTTP: only drain the inbox (pair with GORGIAS_WORKER_THREADS=0 on the web process)")
    parser.add_argument("--nice", type=int, default=5,
                        help="with --worker-only: CPU priority below the web process's (default 5), so a burst's "
                             "webhooks are answered first; notes have far more time than the 200 has")
    args = parser.parse_args(argv)
    settings = load_settings()
    logging.basicConfig(level=(settings.log_level or "INFO").upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = connect_database(settings)
    try:
        service = GorgiasService(settings, db)
        if args.worker_only:
            if args.nice:
                os.nice(args.nice)   # a separate process shares no GIL with intake, so this cannot invert
            return _work_until_signalled(service)
        # The worker threads share the GIL with the event loop: a 1 ms switch interval (as in
        # `app.py serve`) lets a request's coroutine run soon after its commit instead of 5 ms later.
        sys.setswitchinterval(0.001)
        uvicorn.run(build_app(service), host=args.host, port=args.port or settings.port,
                    log_level="warning", access_log=False, **fast_http())
    finally:
        db.close()
    return 0


def fast_http() -> dict:
    """httptools and uvloop when installed: measured to cut intake's per-request CPU against h11
    and asyncio's own loop (bench/bench_gorgias.py)."""
    options = {}
    if importlib.util.find_spec("httptools"):
        options["http"] = "httptools"
    if importlib.util.find_spec("uvloop"):
        options["loop"] = "uvloop"
    return options


def _work_until_signalled(service: GorgiasService) -> int:
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


if __name__ == "__main__":
    raise SystemExit(main())
