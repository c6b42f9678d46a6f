"""The zero-config demo: on the embedded PostgreSQL with no configuration, and on the test server."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import psutil
import pytest

from discovery.demo import TRUTH_FILE, prepare_demo

REPO = Path(__file__).resolve().parents[1]


def _run_demo(data_dir: Path, cwd: Path, customers: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "REDIS_URL", "ANTHROPIC_API_KEY", "SLACK_BOT_TOKEN")}
    env["DATA_DIR"] = str(data_dir)
    env["LOG_LEVEL"] = "WARNING"
    # cwd outside the repository so no developer's .env is read: "no configuration at all".
    return subprocess.run([sys.executable, str(REPO / "app.py"), "demo", "--no-chat", "--customers", str(customers)],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _stop_embedded(pgdata: Path) -> int | None:
    """Stop the embedded server the demo left running for reuse; returns its postmaster pid."""
    if not (pgdata / "postmaster.pid").exists():
        return None
    pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pgserver

        pgserver.get_server(pgdata, cleanup_mode="stop").cleanup()
    return pid


def _number(label: str, text: str) -> int:
    match = re.search(rf"^\s*{label}\s+([\d,]+)", text, re.MULTILINE)
    assert match, f"no {label!r} line in:\n{text}"
    return int(match.group(1).replace(",", ""))


@pytest.fixture
def embedded_home():
    """A folder for the embedded server outside pytest's tmp root: pytest resets that root to
    mode 0700 whenever any session starts, which would lock out pgserver's system user."""
    home = Path(tempfile.mkdtemp(prefix="cib-demo-test-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_demo_on_embedded_postgres_with_no_configuration(embedded_home):
    tmp_path = embedded_home
    data_dir = tmp_path / "data"  # its parent exists; pgserver needs that
    pgdata = data_dir / "postgres"
    try:
        first = _run_demo(data_dir, tmp_path, customers=300)
        assert first.returncode == 0, first.stdout + first.stderr
        report = first.stdout
        assert "Generated a synthetic fabric & quilting store (300 customers" in report
        assert f"Embedded PostgreSQL under {pgdata}" in report
        assert _number("customers", report) == 300
        lines = _number("order lines", report)
        assert 300 * 30 < lines < 300 * 60
        assert re.search(r"dates\s+2022-01-\d\d to 2024-12-\d\d", report)
        assert re.search(r"discovery run \d+: published", report), report
        assert (data_dir / TRUTH_FILE).exists()
        assert (pgdata / "PG_VERSION").exists()
        # Output is not a terminal here: each step still says what it did, one plain line each. The product
        # statistics are folded alongside discovery, the stored answers after the report.
        steps = {line.split("…")[0]: line for line in first.stderr.splitlines() if "…" in line}
        assert list(steps)[:2] == ["Generating store", "Loading orders"]
        assert set(list(steps)[2:4]) == {"Product statistics", "Discovery"}
        assert list(steps)[4:] == ["Product answers for all history, periods and segments"]
        assert re.fullmatch(rf"Generating store… {lines:,} lines in \d+\.\d s", steps["Generating store"])
        assert re.fullmatch(rf"Loading orders… {lines:,} lines in \d+\.\d s", steps["Loading orders"])
        assert re.fullmatch(r"Product statistics… [\d,]+ orders folded in \d+\.\d s", steps["Product statistics"])
        assert re.fullmatch(r"Discovery… run \d+ published in \d+\.\d s", steps["Discovery"])
        assert re.fullmatch(r"Product answers for all history, periods and segments… done in \d+\.\d s",
                            steps["Product answers for all history, periods and segments"])
        assert "\r" not in first.stderr and "[####" not in first.stderr   # no bar drawn off a terminal
        started = time.perf_counter()
        second = _run_demo(data_dir, tmp_path, customers=300)
        reuse_seconds = time.perf_counter() - started
        assert second.returncode == 0, second.stdout + second.stderr
        again = second.stdout
        assert "Using the orders already in the database." in again
        assert "Generated" not in again
        assert re.search(r"Reusing discovery run \d+", again), again
        assert _number("order lines", again) == lines and _number("customers", again) == 300
        assert re.search(r"^Product statistics… up to date in \d+\.\d s$", second.stderr, re.MULTILINE), second.stderr
        assert re.search(r"^Product answers for all history, periods and segments… up to date in \d+\.\d s$", second.stderr,
                         re.MULTILINE), second.stderr
        assert reuse_seconds < 60
    finally:
        pid = _stop_embedded(pgdata)
    if pid is not None:
        deadline = time.time() + 10
        while psutil.pid_exists(pid) and time.time() < deadline:
            time.sleep(0.1)
        assert not psutil.pid_exists(pid), "the embedded PostgreSQL is still running"


@pytest.fixture
def demo_settings(settings, fresh_database_url, tmp_path):
    return settings.model_copy(update={"database_url": fresh_database_url(), "data_dir": tmp_path / "demo"})


def test_prepare_demo_loads_reports_and_reuses(demo_settings):
    from sql.database import Database

    db = Database(demo_settings.database_url)
    try:
        report = prepare_demo(db, demo_settings, customers=200)
        with db.cursor() as cur:
            cur.execute("""SELECT count(DISTINCT customer_id) AS customers,
                                  count(*) FILTER (WHERE kind = 'sale') AS sales,
                                  count(*) FILTER (WHERE kind = 'return') AS returns,
                                  sum(total) AS revenue FROM orders""")
            facts = cur.fetchone()
            cur.execute("SELECT count(*) AS n FROM order_lines")
            line_count = cur.fetchone()["n"]
        assert facts["customers"] == 200
        assert _number("customers", report) == 200
        assert _number("orders", report) == facts["sales"]
        assert f"({facts['returns']:,} returns" in report
        assert _number("order lines", report) == line_count
        assert f"{float(facts['revenue']):,.2f}" in report
        assert "Embedded PostgreSQL" not in report  # DATABASE_URL is set here
        assert re.search(r"discovery run \d+: published", report), report
        assert (demo_settings.data_dir / TRUTH_FILE).exists()

        again = prepare_demo(db, demo_settings)
        assert again.startswith("Using the orders already in the database.")
        assert re.search(r"Reusing discovery run \d+ \(as of 2024-12-\d\d\): 200 customers", again), again
        with db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM order_lines")
            assert cur.fetchone()["n"] == line_count
            cur.execute("SELECT count(*) AS n FROM discovery_runs")
            assert cur.fetchone()["n"] == 1
    finally:
        db.close()


def test_prepare_demo_rejects_a_bad_size_by_value(demo_settings):
    with pytest.raises(ValueError, match="-3"):
        prepare_demo(None, demo_settings, customers=-3)


def test_demo_cli_rejects_a_bad_size_before_starting_anything(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "app.py"), "demo", "--no-chat", "--customers", "0"],
                            cwd=tmp_path, env={**os.environ, "DATA_DIR": str(tmp_path / "d")},
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "--customers must be at least 1, got 0" in result.stderr
    assert not (tmp_path / "d").exists()


def test_a_step_draws_a_bar_on_a_terminal_and_writes_one_line_either_way():
    import io

    from discovery.progress import Step

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    for stream, terminal in ((io.StringIO(), False), (Terminal(), True)):
        step = Step("Loading orders", stream)
        step.progress(50, 100, "order lines")
        step.progress(100, 100, "done")
        step.done("1,234 lines")
        text = stream.getvalue()
        assert ("[###############...............]" in text) == terminal   # the live bar, a terminal only
        assert re.search(r"Loading orders… 1,234 lines in \d+\.\d s *\n$", text)
        assert text.count("\n") == 1
