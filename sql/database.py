"""The one way to reach PostgreSQL: a psycopg 3 pool, migrated on open."""
from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from sql.embedded import embedded_database_url
from sql.migrate import apply_migrations

log = logging.getLogger(__name__)
T = TypeVar("T")


# Callers that must answer at once (readiness, webhook intake) wait at most this long for a
# connection: with the database down they answer 503 instead of hanging.
FAST_TIMEOUT = 0.8

# psycopg_pool retries a lost connection with a doubling delay (1, 2, 4, 8, 16, 32 s …) for
# `reconnect_timeout` (5 minutes by default), so after a 40 s outage the next attempt could be 30 s
# away. Giving up after a few seconds drops the slot instead, and the next request for a connection
# grows the pool afresh: attempts stay at most a couple of seconds apart however long the outage.
RECONNECT_SECONDS = 5.0


class Database:
    """A connection pool plus the URL it came from. Use `connection()` for a pooled connection.

    Connections are checked before they are handed out, so one the server dropped while it sat in
    the pool (a restart, an idle timeout) is replaced instead of failing the next statement.
    """

    def __init__(self, url: str, *, max_size: int = 10, migrate: bool = True, wait_timeout: float = 10.0,
                 connect_timeout: int = 5, statement_timeout: float = 0.0) -> None:
        self.url = url
        self.connect_timeout = connect_timeout
        if migrate:
            with psycopg.connect(url, connect_timeout=connect_timeout) as conn:
                apply_migrations(conn)
        kwargs: dict = {"autocommit": False, "connect_timeout": connect_timeout}
        if statement_timeout > 0:
            kwargs["options"] = f"-c statement_timeout={int(statement_timeout * 1000)}"
        self.pool = ConnectionPool(url, min_size=1, max_size=max_size, open=True, timeout=wait_timeout,
                                   reconnect_timeout=RECONNECT_SECONDS, kwargs=kwargs,
                                   check=ConnectionPool.check_connection, name="cib")
        self.pool.wait(timeout=30)

    @contextmanager
    def connection(self, timeout: float | None = None) -> Iterator[psycopg.Connection]:
        """A pooled connection; the block's work commits at the end, or rolls back on error.
        `timeout`: seconds to wait for one (psycopg_pool.PoolTimeout, an OperationalError, after)."""
        with self.pool.connection(timeout=timeout) as conn:
            yield conn

    @contextmanager
    def cursor(self, timeout: float | None = None) -> Iterator[psycopg.Cursor]:
        """A dict-row cursor on a pooled connection, committed at the end of the block."""
        with self.pool.connection(timeout=timeout) as conn, conn.cursor(row_factory=dict_row) as cur:
            yield cur

    def reachable(self, timeout: float = FAST_TIMEOUT) -> bool:
        """True if a checked connection is available within `timeout` seconds."""
        try:
            with self.pool.connection(timeout=timeout):
                return True
        except psycopg.OperationalError:
            return False

    def connect_outside_pool(self, **kwargs) -> psycopg.Connection:
        """A connection of its own (a LISTEN, a session-long advisory lock) with the pool's connect timeout."""
        return psycopg.connect(self.url, connect_timeout=self.connect_timeout, **kwargs)

    def close(self) -> None:
        self.pool.close()


def retry_if_dropped(work: Callable[[], T], what: str = "statement") -> T:
    """Run `work`; if it failed because the connection dropped (a server restart), run it once more
    on a fresh, checked connection. Only for work that is safe to repeat (reads, idempotent writes).
    A pool timeout is not retried: the database is down, and waiting twice helps nobody."""
    try:
        return work()
    except psycopg.OperationalError as exc:
        if isinstance(exc, PoolTimeout):
            raise
        log.warning("%s failed on a dropped database connection (%s); retrying once", what,
                    str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return work()


def connect_database(settings) -> Database:
    """Open the configured database, or the embedded one when DATABASE_URL is unset."""
    url = settings.database_url or embedded_database_url(settings.data_dir)
    return Database(url, max_size=settings.db_pool_max_size,
                    connect_timeout=settings.database_connect_timeout_seconds,
                    statement_timeout=settings.database_statement_timeout_seconds)
