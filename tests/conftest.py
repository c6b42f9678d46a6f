"""Shared fixtures: a real PostgreSQL database per test session (and fresh ones on demand),
a Redis key prefix per session, settings pointing at both, and the reference data folder."""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import psycopg
import pytest

from settings import Settings, load_settings
from sql.database import Database
from tests.log_privacy import SessionCapture

ADMIN_URL = os.environ.get("TEST_ADMIN_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


LOG_CAPTURE = SessionCapture()


def pytest_configure(config):
    # Before any test module is imported: every Settings made from here on reports its secrets.
    LOG_CAPTURE.start(Settings)


def pytest_sessionfinish(session, exitstatus):
    """The log-privacy check over everything this session logged (meaningful over the whole suite)."""
    problems = LOG_CAPTURE.problems()
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if problems:
        if reporter:
            reporter.write_line(f"LOG PRIVACY: {len(problems)} leak(s) in the captured logs "
                                f"({len(LOG_CAPTURE.handler.records)} records):", red=True)
            for problem in problems:
                reporter.write_line(f"  {problem}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    elif reporter:
        reporter.write_line(f"log privacy: {len(LOG_CAPTURE.handler.records)} log records checked, no leaks")


@pytest.fixture(autouse=True)
def _root_logging_as_before():
    """A test that runs a command in-process (`app.main`) installs the command's log handler on a
    stream pytest closes after the test: the root logger's handlers and level are put back, so later
    threads never write to a closed stream and the session's capture stays the only listener."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    if root.handlers != handlers or root.level != level:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        for handler in [h for h in handlers if h not in root.handlers]:
            root.addHandler(handler)
        root.setLevel(level)


def _url_for(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + "/" + name


def create_database(template: str | None = None) -> str:
    """Create an empty (or templated) database with a unique name; returns its URL."""
    name = f"cib_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        clause = f" TEMPLATE {template}" if template else ""
        conn.execute(f"CREATE DATABASE {name}{clause}")
    return _url_for(name)


def drop_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data folder {SHARED_DATA} is absent (it is always present in CI)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def migrated_template():
    """A migrated database used as a template, so a fresh database costs one CREATE DATABASE."""
    url = create_database()
    Database(url, migrate=True).close()
    name = url.rsplit("/", 1)[1]
    yield name
    drop_database(url)


@pytest.fixture
def fresh_database_url(migrated_template):
    """Factory: a new migrated database for this test, dropped afterwards."""
    made: list[str] = []

    def make(migrated: bool = True) -> str:
        url = create_database(migrated_template if migrated else None)
        made.append(url)
        return url

    yield make
    for url in made:
        drop_database(url)


@pytest.fixture(scope="session")
def session_database_url(migrated_template):
    url = create_database(migrated_template)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def redis_prefix() -> str:
    return f"cibtest:{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="session")
def settings(session_database_url, redis_prefix, tmp_path_factory):
    """Settings for the session database and a private Redis prefix; no external services."""
    return load_settings(
        database_url=session_database_url,
        redis_url=REDIS_URL,
        redis_key_prefix=redis_prefix,
        data_dir=tmp_path_factory.mktemp("data"),
        pseudonym_secret="test-pseudonym-secret",
        anthropic_api_key=None,
        _env_file=None,
    )


@pytest.fixture(scope="session")
def db(settings):
    """One pool on the session database. Tests that need an empty store use `fresh_db`."""
    database = Database(settings.database_url)
    yield database
    database.close()


@pytest.fixture
def fresh_db(fresh_database_url):
    database = Database(fresh_database_url())
    yield database
    database.close()
