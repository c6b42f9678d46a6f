"""Composition root and CLI: `python app.py COMMAND --help`.

Each command wires settings, storage and the package that does the work; the work itself lives in
discovery/, analytics/, bot/ and gorgias/. Imports are inside the commands so that `--help` and
light commands start fast.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from settings import Settings, SettingsError, get_settings

log = logging.getLogger("cib")


def open_database(settings: Settings):
    from sql import connect_database

    return connect_database(settings)


# --- storage and data ---------------------------------------------------------------------------

def cmd_migrate(args, settings: Settings) -> int:
    from sql.migrate import apply_migrations
    import psycopg
    from sql.embedded import embedded_database_url

    url = settings.database_url or embedded_database_url(settings.data_dir)
    with psycopg.connect(url) as conn:
        applied = apply_migrations(conn)
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
    return 0


def cmd_ingest(args, settings: Settings) -> int:
    from discovery.importer import ImportFailed, import_file
    from discovery.progress import terminal_progress

    db = open_database(settings)
    try:
        summary = import_file(
            db, Path(args.file), fmt=args.format, skip_bad_rows=args.skip_bad_rows,
            progress=None if args.json else terminal_progress("Importing"),
        )
    except ImportFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    after_import(settings)
    if args.json:
        print(json.dumps(summary.model_dump(mode="json")))
    else:
        print(summary.describe())
    return 0


def after_import(settings: Settings) -> None:
    """New customers need their pseudonymous ids before anything shows them, and new orders are
    folded into analyze_products' rollup now: the tool only reads it. One line on stderr says so."""
    from discovery.progress import Step

    db = open_database(settings)
    try:
        step = Step("Product statistics")
        step.done(fold_imported_orders(db, settings))
    finally:
        db.close()


def fold_imported_orders(db, settings: Settings, later: bool = False) -> str:
    """The write side after orders arrive: pseudonymous ids, then the product rollup, its answers for
    the standard periods and its sums per segment of the current run (later: only the rollup; the
    caller stores the rest with analytics.product_rollup.store_later_answers). Returns what it did,
    for a progress line."""
    from analytics.product_rollup import orders_to_fold, refresh_product_rollup
    from analytics.pseudonyms import assign_public_ids

    assign_public_ids(db, settings)
    pending = orders_to_fold(db)
    if not refresh_product_rollup(db, with_segments=not later, with_periods=not later):
        return "up to date"
    return f"{pending:,} orders folded" if pending else "regrouped"


def cmd_generate(args, settings: Settings) -> int:
    import time

    from discovery.progress import terminal_progress
    from discovery.synthetic import StoreSpec, write_store

    started = time.perf_counter()
    try:
        spec = StoreSpec(customers=args.customers, seed=args.seed)
        out = Path(args.out)
        truth = write_store(spec, out, progress=terminal_progress("Generating"))
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} and {truth} in {time.perf_counter() - started:.1f} s")
    return 0


def cmd_demo(args, settings: Settings) -> int:
    """Zero-config: embedded database, synthetic store if empty, discovery, then the console chat."""
    from discovery.demo import prepare_demo

    if args.customers is not None and args.customers < 1:
        print(f"error: --customers must be at least 1, got {args.customers}", file=sys.stderr)
        return 2
    from analytics.product_rollup import store_later_answers
    from discovery.demo import run_alongside

    db = open_database(settings)
    try:
        # The product rollup is folded alongside discovery; the stored answers for the standard periods
        # and per segment follow in the background while the chat opens (until then those questions
        # scan the rollup: the same answers, slower). Each step writes its line.
        report = prepare_demo(db, settings, customers=args.customers,
                              after_load=lambda db: fold_imported_orders(db, settings, later=True))
        print(report, flush=True)
        stored = run_alongside("Product answers for periods and segments",
                               lambda db: "done" if store_later_answers(db) else "up to date", db, {}, "later")
        status = 0
        if not args.no_chat:
            from bot.console import run_chat

            status = run_chat(settings)
        stored()
        return status
    finally:
        db.close()


# --- discovery ----------------------------------------------------------------------------------

def cmd_discover(args, settings: Settings) -> int:
    from discovery.pipeline import run_discovery_cli

    return run_discovery_cli(settings, as_of=args.as_of, as_json=args.json,
                             on_published=shared_cache_refresher(settings))


def shared_cache_refresher(settings: Settings):
    """The publish hook for runs made by this process: drop and re-warm the answers that serving
    processes share through Redis. An in-process cache dies with the CLI, and serving processes
    notice a new current run by themselves, so without Redis there is nothing to do."""
    if not settings.redis_url:
        return None

    def refresh(run_id: int) -> None:
        from analytics.context import after_discovery_run, build_context

        db = open_database(settings)
        try:
            after_discovery_run(build_context(settings, db))
        finally:
            db.close()

    return refresh


def cmd_export(args, settings: Settings) -> int:
    from discovery.export import ExportError, export_profiles

    db = open_database(settings)
    try:
        rows = export_profiles(db, Path(args.out))
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(f"wrote {rows} customer profiles to {args.out}")
    return 0


# --- questions ----------------------------------------------------------------------------------

def cmd_route(args, settings: Settings) -> int:
    from bot.console import route_cli

    return route_cli(settings, args.question)


def cmd_ask(args, settings: Settings) -> int:
    from bot.console import ask_cli

    return ask_cli(settings, args.question, as_json=args.json)


def cmd_chat(args, settings: Settings) -> int:
    from bot.console import run_chat

    return run_chat(settings)


# --- serving ------------------------------------------------------------------------------------

def build_web_app(settings: Settings, db, *, ctx=None, slack_app=None, background: bool = True,
                  scheduler: bool | None = None):
    """The one Starlette app `serve` runs: /health, /health/ready, /metrics, POST /slack/events
    (HTTP mode), the Gorgias webhook when configured. Its lifespan starts the discovery scheduler,
    the Gorgias worker and, with SLACK_APP_TOKEN, Socket Mode. `bot` and `gorgias` never import each
    other; this is where they meet. Tests pass their own `slack_app`, `background=False` (nothing
    started) or `scheduler=False` (everything but the discovery scheduler)."""
    import contextlib
    import time as _time

    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    from bot.metrics import METRICS

    if ctx is None:
        from analytics.context import build_context

        ctx = build_context(settings, db)
    routes = []
    if slack_app is None and settings.slack_bot_token is not None:
        from bot.app import build_slack_app

        slack_app = build_slack_app(settings, db, ctx=ctx)
    if slack_app is not None and settings.slack_signing_secret is not None:
        from bot.http import slack_routes

        routes += slack_routes(slack_app)
    gorgias = None
    try:
        from gorgias.service import GorgiasService
    except ImportError:
        GorgiasService = None  # noqa: N806 - the integration is optional
    if GorgiasService is not None and (settings.gorgias_webhook_secret or settings.gorgias_domain):
        gorgias = GorgiasService(settings, db, ctx)
        routes += gorgias.routes()

    async def health(request):
        return JSONResponse({"status": "ok"})

    def readiness() -> tuple[int, dict]:
        from bot.dashboard import run_status

        try:
            current, latest = run_status(db)
        except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
            log.warning("readiness: database check failed: %s", exc)
            return 503, {"database": "unreachable", "current_run": None}
        body = {"database": "ok", "current_run": current, "latest_run": latest}
        if current is None:
            body["problem"] = "no published discovery run yet (python app.py discover)"
        return (200 if current else 503), body

    async def ready(request):
        status, body = await run_in_threadpool(readiness)
        return JSONResponse(body, status_code=status, media_type="application/json")

    async def metrics(request):
        text = METRICS.render()
        if gorgias is not None:
            text += "".join(f"cib_gorgias_{name} {value:g}\n" for name, value in sorted(gorgias.metrics().items()))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    routes += [Route("/health", health), Route("/health/ready", ready), Route("/metrics", metrics)]

    @contextlib.asynccontextmanager
    async def lifespan(app):
        started = []
        if background and (scheduler is None or scheduler):
            try:
                from discovery.scheduler import DiscoveryScheduler
            except ImportError:
                log.warning("discovery scheduler not available; runs happen only with `python app.py discover`")
            else:
                from analytics.context import after_discovery_run

                discovery_scheduler = DiscoveryScheduler(settings, db, lambda *a, **k: after_discovery_run(ctx))
                discovery_scheduler.start()
                started.append(discovery_scheduler.shutdown)
        if background:
            if gorgias is not None:
                gorgias.start()
                started.append(gorgias.stop)
            if slack_app is not None and settings.slack_app_token is not None:
                from bot.app import socket_mode_handler

                handler = socket_mode_handler(slack_app, settings)
                await run_in_threadpool(handler.connect)
                started.append(handler.close)
                log.info("Slack Socket Mode connected")
        try:
            yield
        finally:
            for stop in reversed(started):
                try:
                    await run_in_threadpool(stop)
                except Exception:  # noqa: BLE001 - keep shutting the rest down
                    log.exception("shutdown step failed")

    class MetricsMiddleware:
        """Request counts and latencies by route path (not raw URL, to keep label sets small)."""

        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            started_at, status = _time.perf_counter(), {"code": 500}

            async def send_and_record(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await self.inner(scope, receive, send_and_record)
            finally:
                path = scope["path"] if any(r.path == scope["path"] for r in routes) else "other"
                METRICS.inc("cib_http_requests_total", path=path, status=str(status["code"]))
                METRICS.observe("cib_http_request_seconds", _time.perf_counter() - started_at, path=path)

    web = Starlette(routes=routes, lifespan=lifespan)
    web.add_middleware(MetricsMiddleware)
    return web


def cmd_serve(args, settings: Settings) -> int:
    """One ASGI server: Slack (HTTP mode, or Socket Mode alongside), the Gorgias webhook, health."""
    import uvicorn

    from bot.app import SlackNotConfigured

    # Hand the GIL over every 1 ms instead of 5: acks (a few ms of Python each) then wait less
    # behind answers being computed; bench_slack's worst ack p99 dropped by about half.
    sys.setswitchinterval(0.001)
    db = open_database(settings)
    try:
        web = build_web_app(settings, db)
    except SlackNotConfigured as exc:
        print(f"error: {exc}", file=sys.stderr)
        db.close()
        return 2
    if settings.slack_bot_token is None:
        log.warning("SLACK_BOT_TOKEN is not set: serving health and Gorgias only")
    try:
        uvicorn.run(web, host=args.host, port=settings.port, log_level=(settings.log_level or "info").lower(),
                    proxy_headers=True)
    finally:
        db.close()
    return 0


def cmd_gorgias(args, settings: Settings) -> int:
    from gorgias.cli import gorgias_cli

    return gorgias_cli(settings, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python app.py", description="Customer Intelligence Bot")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO, WARNING (default from LOG_LEVEL)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("demo", help="zero-config demo: embedded database, synthetic store, discovery, chat")
    p.add_argument("--customers", type=int, default=None, help="synthetic store size (default 27,000)")
    p.add_argument("--no-chat", action="store_true", help="prepare everything, then exit")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("migrate", help="apply database migrations")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("ingest", help="import an order export (CSV, CSV.gz, Parquet, XLSX)")
    p.add_argument("file")
    p.add_argument("--format", default="auto", choices=["auto", "canonical", "shopify", "uci"])
    p.add_argument("--skip-bad-rows", action="store_true",
                   help="load the good rows; write rejected rows with reasons to FILE.rejected.csv")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("generate", help="write a synthetic fabric & quilting store as canonical CSV")
    p.add_argument("--customers", type=int, default=27_000, help="number of customers (default 27,000: ~1.2 M lines)")
    p.add_argument("--seed", type=int, default=7, help="same seed, same bytes (default 7)")
    p.add_argument("--out", default="synthetic_orders.csv.gz",
                   help="gzip when the name ends in .gz; planted types go to NAME.truth.csv beside it")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("discover", help="run discovery now and publish it")
    p.add_argument("--as-of", default=None, help="YYYY-MM-DD (default: the latest order)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_discover)

    p = sub.add_parser("export", help="export data for the store owner")
    p.add_argument("what", choices=["profiles"])
    p.add_argument("--out", required=True)
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("route", help="print the tool call a question maps to, as JSON ('-' reads stdin)")
    p.add_argument("question")
    p.set_defaults(func=cmd_route)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("chat", help="interactive console chat")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("serve", help="serve Slack (HTTP or Socket Mode), the Gorgias webhook and health")
    p.add_argument("--host", default="0.0.0.0", help="interface to listen on (port from PORT)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("gorgias", help="Gorgias inbox maintenance")
    p.add_argument("action", choices=["retry", "status"])
    p.set_defaults(func=cmd_gorgias)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = get_settings()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # A server logs what it does; a CLI command speaks through its own output and logs problems.
    default_level = "INFO" if args.command == "serve" else "WARNING"
    logging.basicConfig(
        level=(args.log_level or settings.log_level or default_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("pgserver").setLevel(logging.WARNING)  # it logs every pg_ctl call at INFO
    import psycopg

    try:
        return args.func(args, settings)
    except psycopg.OperationalError as exc:
        # A wrong or down DATABASE_URL is a user's problem: one line, not a traceback. libpq's
        # message names host and port, never the password.
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        where = "DATABASE_URL" if settings.database_url else "the embedded database under DATA_DIR"
        print(f"error: cannot reach PostgreSQL ({reason}). Check {where}"
              + (" (or unset DATABASE_URL to use the embedded one)." if settings.database_url else "."),
              file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
