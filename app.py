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
    from discovery.importer import ImportError_, import_file
    from discovery.progress import terminal_progress

    db = open_database(settings)
    try:
        summary = import_file(
            db, Path(args.file), fmt=args.format, skip_bad_rows=args.skip_bad_rows,
            progress=None if args.json else terminal_progress("Importing"),
        )
    except ImportError_ as exc:
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
    """New customers need their pseudonymous ids before anything shows them."""
    try:
        from analytics.pseudonyms import assign_public_ids
    except ImportError:  # analytics not built yet
        return
    db = open_database(settings)
    try:
        assign_public_ids(db, settings)
    finally:
        db.close()


def cmd_generate(args, settings: Settings) -> int:
    from discovery.synthetic import StoreSpec, write_store

    spec = StoreSpec(customers=args.customers, seed=args.seed)
    out = Path(args.out)
    truth = write_store(spec, out)
    print(f"wrote {out} and {truth}")
    return 0


def cmd_demo(args, settings: Settings) -> int:
    """Zero-config: embedded database, synthetic store if empty, discovery, then the console chat."""
    from discovery.demo import prepare_demo

    db = open_database(settings)
    try:
        report = prepare_demo(db, settings, customers=args.customers)
    finally:
        db.close()
    after_import(settings)
    print(report)
    if args.no_chat:
        return 0
    try:
        from bot.console import run_chat
    except ImportError:
        print("(the console chat arrives with the router; the data above is ready)")
        return 0
    return run_chat(settings)


# --- discovery ----------------------------------------------------------------------------------

def cmd_discover(args, settings: Settings) -> int:
    from discovery.pipeline import run_discovery_cli

    return run_discovery_cli(settings, as_of=args.as_of, as_json=args.json)


def cmd_export(args, settings: Settings) -> int:
    from discovery.export import export_profiles

    db = open_database(settings)
    try:
        rows = export_profiles(db, Path(args.out))
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

def cmd_serve(args, settings: Settings) -> int:
    """One ASGI server: Slack (HTTP mode, or Socket Mode alongside), the Gorgias webhook, health."""
    raise SystemExit("serve is being built (Slack and Gorgias issues)")


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
    p.add_argument("--customers", type=int, default=27_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--out", default="synthetic_orders.csv.gz")
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
    logging.basicConfig(
        level=(args.log_level or settings.log_level).upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return args.func(args, settings)


if __name__ == "__main__":
    sys.exit(main())
