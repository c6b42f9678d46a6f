"""Numbered plain-SQL migrations, applied in order, each in its own transaction, recorded once."""
from __future__ import annotations

import logging
from pathlib import Path

import psycopg

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any fixed number: every process that migrates takes this lock, so two starting at once
# apply each migration exactly once.
_MIGRATION_LOCK = 727_001


def migration_files() -> list[Path]:
    files = sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9]_*.sql"))
    numbers = [f.name[:3] for f in files]
    duplicates = {n for n in numbers if numbers.count(n) > 1}
    if duplicates:
        raise RuntimeError(f"two migrations share the number(s) {sorted(duplicates)} in {MIGRATIONS_DIR}")
    return files


def apply_migrations(conn: psycopg.Connection) -> list[str]:
    """Apply what is not yet applied; returns the names applied now. Safe to call concurrently."""
    conn.autocommit = True
    conn.execute("SELECT pg_advisory_lock(%s)", (_MIGRATION_LOCK,))
    try:
        conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   name text PRIMARY KEY,
                   applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = {row[0] for row in conn.execute("SELECT name FROM schema_migrations")}
        applied = []
        for path in migration_files():
            if path.name in done:
                continue
            with conn.transaction():
                conn.execute(path.read_text(encoding="utf-8"))
                conn.execute("INSERT INTO schema_migrations (name) VALUES (%s)", (path.name,))
            log.info("applied migration %s", path.name)
            applied.append(path.name)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (_MIGRATION_LOCK,))
