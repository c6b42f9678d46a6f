"""Serve only the Gorgias webhook and its worker (no Slack): `python -m gorgias.standalone`.

For a helpdesk-only deployment, the crash-recovery test and the benchmark. `python app.py serve`
mounts the same routes next to Slack.
"""
from __future__ import annotations

import argparse
import contextlib
import logging

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
    args = parser.parse_args(argv)
    settings = load_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    db = connect_database(settings)
    try:
        service = GorgiasService(settings, db)
        uvicorn.run(build_app(service), host=args.host, port=args.port or settings.port,
                    log_level="warning", access_log=False)
    finally:
        db.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
