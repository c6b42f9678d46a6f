"""Composition root and CLI: `python app.py COMMAND --help`.

The only place (with the `wiring` package it uses) that reads settings and builds the database
pool, cache and clients; each command hands them to the package that does the work (discovery/,
analytics/, bot/, gorgias/). Imports are inside the commands so that `--help` and light commands
start fast.
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
    with psycopg.connect(url, connect_timeout=settings.database_connect_timeout_seconds) as conn:
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
            allow_dates_from=args.allow_dates_from,
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

    from wiring.orders import fold_imported_orders

    db = open_database(settings)
    try:
        step = Step("Product statistics")
        step.done(fold_imported_orders(db, settings))
    finally:
        db.close()


def cmd_sync(args, settings: Settings) -> int:
    """`sync shopify`: orders updated since the last sync (or --since) from the Admin GraphQL API."""
    from datetime import datetime, timezone

    from analytics.cache import Cache
    from shopify.client import ShopifyAPIError, ShopifyConfigError
    from wiring.shopify import sync_shopify

    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since)
        except ValueError:
            print(f"error: --since {args.since!r} is not a date (YYYY-MM-DD or an ISO time)", file=sys.stderr)
            return 2
        since = since if since.tzinfo else since.replace(tzinfo=timezone.utc)

    def page_line(page: int, summary) -> None:
        print(f"page {page}: {summary.orders_fetched:,} orders fetched, {summary.inserted:,} inserted, "
              f"{summary.updated:,} updated, {summary.returns:,} returns", file=sys.stderr, flush=True)

    db = open_database(settings)
    try:
        # A shared (Redis) cache is told the orders changed; an in-process one dies with this command.
        summary = sync_shopify(settings, db, since=since, on_page=page_line,
                               cache=Cache.from_settings(settings) if settings.redis_url else None)
    except (ShopifyConfigError, ShopifyAPIError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(json.dumps(summary.model_dump(mode="json")) if args.json else summary.describe())
    return 4 if summary.busy else 0   # as `discover`: 4 = another one in progress, nothing started


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
    from wiring.orders import fold_imported_orders

    db = open_database(settings)
    try:
        # The product rollup's order grains are folded alongside discovery; what is derived from them and
        # the stored answers for all history, the standard periods and per segment follow in the
        # background while the chat opens (until then those questions scan the order grains: the same
        # answers, slower). Each step writes its line.
        report = prepare_demo(db, settings, customers=args.customers,
                              after_load=lambda db: fold_imported_orders(db, settings, later=True))
        print(report, flush=True)
        stored = run_alongside("Product answers for all history, periods and segments",
                               lambda db: "done" if store_later_answers(db) else "up to date", db, {}, "later")
        status = 0 if args.no_chat else cmd_chat(args, settings)
        stored()
        return status
    finally:
        db.close()


# --- discovery ----------------------------------------------------------------------------------

def cmd_discover(args, settings: Settings) -> int:
    from discovery.pipeline import run_discovery_cli

    db = open_database(settings)
    try:
        return run_discovery_cli(db, settings, as_of=args.as_of, as_json=args.json,
                                 on_published=shared_cache_refresher(settings, db))
    finally:
        db.close()


def shared_cache_refresher(settings: Settings, db):
    """The publish hook for runs made by this process: drop and re-warm the answers that serving
    processes share through Redis. An in-process cache dies with the CLI, and serving processes
    notice a new current run by themselves, so without Redis there is nothing to do."""
    if not settings.redis_url:
        return None

    def refresh(run_id: int) -> None:
        from analytics.context import after_discovery_run
        from wiring import build_services

        after_discovery_run(build_services(settings, db).ctx)

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
    from wiring import open_services

    with open_services(settings) as services:
        return route_cli(services.router(), args.question)


def cmd_ask(args, settings: Settings) -> int:
    from bot.console import ask_cli
    from wiring import open_services

    with open_services(settings) as services:
        return ask_cli(services.router(), args.question, as_json=args.json)


def cmd_digest(args, settings: Settings) -> int:
    """The weekly customer review rendered in the console (`serve` posts it to subscribed channels);
    with --alerts, also the alerts the data shows now (nothing is recorded or posted)."""
    from datetime import datetime, timezone

    from analytics.alerts import find_alerts
    from analytics.review import weekly_review
    from bot.render_text import blocks_to_text
    from bot.views.alerts import alert_blocks
    from bot.views.review import review_blocks
    from wiring import open_services

    with open_services(settings) as services:
        review = weekly_review(services.ctx)
        found = find_alerts(services.ctx, datetime.now(timezone.utc)) if args.alerts else []
    if args.json and args.alerts:
        print(json.dumps({"review": review.model_dump(mode="json"), "alerts": [a.model_dump() for a in found]}))
    elif args.json:
        print(review.model_dump_json())
    else:
        print(blocks_to_text(review_blocks(review)))
        for alert in found:
            print("\n" + blocks_to_text(alert_blocks(alert.model_dump())))
        if args.alerts and not found:
            print("\nNo alerts right now.")
    return 0


def cmd_chat(args, settings: Settings) -> int:
    from bot.console import run_chat
    from wiring import open_services

    with open_services(settings) as services:
        return run_chat(services.router())


# --- serving ------------------------------------------------------------------------------------

def cmd_serve(args, settings: Settings) -> int:
    """One ASGI server: Slack (HTTP mode, or Socket Mode alongside), the Gorgias webhook, health."""
    import uvicorn

    from bot.app import SlackNotConfigured
    from wiring.web import build_web_app

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
        # log_config=None: uvicorn's own lines go through the process's handler (JSON or text,
        # with the correlation id) instead of the handlers uvicorn would install.
        uvicorn.run(web, host=args.host, port=settings.port, log_level=(settings.log_level or "info").lower(),
                    proxy_headers=True, log_config=None)
    finally:
        db.close()
    return 0


def cmd_mcp(args, settings: Settings) -> int:
    """The analytics tools over MCP on stdio (Claude Desktop, IDEs): read-only, pseudonymous ids,
    zero-config (the embedded database when DATABASE_URL is unset). Logs go to stderr."""
    from contextlib import contextmanager

    from mcp_server.stdio import serve_stdio
    from wiring import open_services

    @contextmanager
    def open_context():
        with open_services(settings) as services:
            yield services.ctx

    return serve_stdio(open_context)


def cmd_gorgias(args, settings: Settings) -> int:
    if args.action == "serve":
        return gorgias_serve(args, settings)
    from gorgias.cli import gorgias_cli

    db = open_database(settings)
    try:
        return gorgias_cli(db, args)
    finally:
        db.close()


def gorgias_serve(args, settings: Settings) -> int:
    """Only the Gorgias webhook and its worker (no Slack), for a helpdesk-only deployment; with
    --worker-only, no HTTP: the worker drains the inbox that another process's intake fills."""
    import os

    import uvicorn

    from gorgias.standalone import build_app, fast_http, work_until_signalled
    from wiring import open_services
    from wiring.web import gorgias_service

    with open_services(settings) as services:
        service = gorgias_service(services)
        if args.worker_only:
            if args.nice:
                os.nice(args.nice)   # a separate process shares no GIL with intake, so this cannot invert
            return work_until_signalled(service)
        # The worker threads share the GIL with the event loop: a 1 ms switch interval (as in
        # `serve`) lets a request's coroutine run soon after its commit instead of 5 ms later.
        sys.setswitchinterval(0.001)
        uvicorn.run(build_app(service), host=args.host, port=args.port or settings.port,
                    log_level="warning", access_log=False, log_config=None, **fast_http())
    return 0


def cmd_settings(args, settings: Settings) -> int:
    """The environment reference, generated from the Settings model (docs/ENVIRONMENT.md)."""
    from wiring.environment import environment_markdown

    text = environment_markdown()
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"wrote {args.out}")
    else:
        print(text, end="")
    return 0


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
    p.add_argument("--allow-dates-from", metavar="YYYY-MM-DD", default=None,
                   help="accept orders dated from this day on (default: 1990-01-01)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser("sync", help="fetch orders from a live store (Shopify) since the last sync")
    p.add_argument("source", choices=["shopify"])
    p.add_argument("--since", metavar="DATE", default=None,
                   help="orders updated since this day or ISO time (default: since the last sync; all on the first)")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    p.set_defaults(func=cmd_sync)

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

    p = sub.add_parser("digest", help="the weekly customer review (--preview renders it here)")
    p.add_argument("--preview", action="store_true", help="render the review in the console (the default)")
    p.add_argument("--alerts", action="store_true", help="also list the alerts the data shows now (none is sent)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_digest)

    p = sub.add_parser("chat", help="interactive console chat")
    p.set_defaults(func=cmd_chat)

    p = sub.add_parser("serve", help="serve Slack (HTTP or Socket Mode), the Gorgias webhook and health")
    p.add_argument("--host", default="0.0.0.0", help="interface to listen on (port from PORT)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("mcp", help="serve the analytics tools over MCP on stdio (Claude Desktop, IDEs), read-only")
    p.set_defaults(func=cmd_mcp)

    p = sub.add_parser("gorgias", help="Gorgias: inbox status / retry, or serve only its webhook and worker")
    p.add_argument("action", choices=["retry", "status", "serve"])
    p.add_argument("--host", default="127.0.0.1", help="with serve: interface to listen on")
    p.add_argument("--port", type=int, default=None, help="with serve: port (default: PORT)")
    p.add_argument("--worker-only", action="store_true",
                   help="with serve: no HTTP, only drain the inbox (pair with GORGIAS_WORKER_THREADS=0 on the web process)")
    p.add_argument("--nice", type=int, default=5,
                   help="with --worker-only: CPU priority below the web process's (default 5), so a burst's "
                        "webhooks are answered first")
    p.set_defaults(func=cmd_gorgias)
    p = sub.add_parser("settings", help="print the environment reference (Markdown) generated from settings.py")
    p.add_argument("--markdown", action="store_true", help="Markdown table (the only format; for clarity)")
    p.add_argument("--out", default=None, help="write to this file (docs/ENVIRONMENT.md) instead of stdout")
    p.set_defaults(func=cmd_settings)
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
    from observability.logs import configure_logging, correlated, new_correlation_id

    configure_logging(args.log_level or settings.log_level or default_level, settings.log_format)
    with correlated(new_correlation_id("cli")):
        return run_command(args, settings)


def run_command(args, settings: Settings) -> int:
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
