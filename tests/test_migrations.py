"""Migrations: applied once, in order, safe twice and safe when processes race."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import psycopg

from sql.migrate import apply_migrations, migration_files

ROOT = Path(__file__).resolve().parents[1]


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM schema_migrations ORDER BY name")]


def test_migrations_apply_in_order_and_twice_is_a_no_op(fresh_database_url):
    url = fresh_database_url(migrated=False)
    with psycopg.connect(url) as conn:
        first = apply_migrations(conn)
        second = apply_migrations(conn)
    assert first == [p.name for p in migration_files()]
    assert second == []
    assert _applied(url) == sorted(first)
    with psycopg.connect(url) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")}
    assert {"customers", "orders", "order_lines", "products", "discovery_runs", "customer_profiles"} <= tables


def test_concurrent_processes_apply_each_migration_once(fresh_database_url):
    url = fresh_database_url(migrated=False)
    script = (
        "import sys, psycopg; from sql.migrate import apply_migrations;"
        "c = psycopg.connect(sys.argv[1]); print(len(apply_migrations(c)))"
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, url], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    results = [p.communicate(timeout=60) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in results]
    counts = sorted(int(out.strip()) for out, _ in results)
    # Exactly one process applied everything; the others found nothing left to do.
    assert counts == [0, 0, 0, len(migration_files())]
    assert len(_applied(url)) == len(migration_files())


def test_a_failing_migration_leaves_nothing_half_applied(fresh_database_url, tmp_path, monkeypatch):
    import sql.migrate as migrate

    url = fresh_database_url(migrated=False)
    for path in migration_files():
        (tmp_path / path.name).write_text(path.read_text())
    (tmp_path / "999_broken.sql").write_text("CREATE TABLE half_done (x int); SELECT no_such_function();")
    monkeypatch.setattr(migrate, "MIGRATIONS_DIR", tmp_path)
    with psycopg.connect(url) as conn:
        try:
            apply_migrations(conn)
        except psycopg.Error:
            pass
        else:
            raise AssertionError("the broken migration should have failed")
    assert "999_broken.sql" not in _applied(url)
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('half_done')").fetchone()[0]
    assert exists is None
