"""The one way to reach PostgreSQL: a psycopg 3 pool, migrated on open."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Iterator

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from sql.embedded import embedded_database_url
from sql.migrate import apply_migrations

log = logging.getLogger(__name__)


class Database:
    """A connection pool plus the URL it came from. Use `connection()` for a pooled connection."""

    def __init__(self, url: str, *, max_size: int = 10, migrate: bool = True) -> None:
        self.url = url
        if migrate:
            with psycopg.connect(url) as conn:
                apply_migrations(conn)
        self.pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True,
                                   kwargs={"autocommit": False}, name="cib")
        self.pool.wait(timeout=30)

    @contextmanager
    def connection(self) -> Iterator[psycopg.Connection]:
        """A pooled connection; the block's work commits at the end, or rolls back on error."""
        with self.pool.connection() as conn:
            yield conn

    @contextmanager
    def cursor(self) -> Iterator[psycopg.Cursor]:
        """A dict-row cursor on a pooled connection, committed at the end of the block."""
        with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            yield cur

    def close(self) -> None:
        self.pool.close()


def connect_database(settings) -> Database:
    """Open the configured database, or the embedded one when DATABASE_URL is unset."""
    url = settings.database_url or embedded_database_url(settings.data_dir)
    return Database(url, max_size=settings.db_pool_max_size)
