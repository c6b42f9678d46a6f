"""Discovery end to end on a small synthetic store in real PostgreSQL: what a run publishes,
planted-type recovery, as-of cut, export, rejected/failed/killed runs, the CLI and the scheduler."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import psycopg
import pytest
from sklearn.metrics import adjusted_rand_score

from discovery.export import ExportError, export_profiles
from discovery.importer import import_frame
from discovery.pipeline import run_discovery, run_discovery_cli
from sql import query
from discovery.synthetic import StoreSpec, axis_labels, generate_store
from settings import load_settings
from sql.database import Database
from tests.conftest import create_database, drop_database

ROOT = Path(__file__).resolve().parents[1]
AXES = ["frequency", "value", "exploration", "price_sensitivity", "cadence", "maturity", "repurchase", "returns"]
CUSTOMERS = 3000


def _synthetic_store(migrated_template, seed: int):
    url = create_database(migrated_template)
    db = Database(url)
    orders, truth = generate_store(StoreSpec(customers=CUSTOMERS, seed=seed))
    import_frame(db, orders, "synthetic")
    yield db, truth
    db.close()
    drop_database(url)


@pytest.fixture(scope="module")
def store(migrated_template):
    """A migrated database holding a 3,000-customer synthetic store, and the planted truth."""
    yield from _synthetic_store(migrated_template, seed=11)


@pytest.fixture(scope="module")
def second_store(migrated_template):
    """The same store drawn with another seed: recovery must not hinge on one draw."""
    yield from _synthetic_store(migrated_template, seed=13)


@pytest.fixture(scope="module")
def store_settings(store, tmp_path_factory):
    db, _ = store
    return load_settings(database_url=db.url, data_dir=tmp_path_factory.mktemp("disc"), redis_url=None,
                         discovery_min_customers=50, _env_file=None)


@pytest.fixture(scope="module")
def first_run(store, store_settings):
    db, _ = store
    published = []
    summary = run_discovery(db, store_settings, on_published=published.append)
    assert summary.status == "published", summary.error
    assert published == [summary.run_id]
    return summary


def current_run_id(db) -> int | None:
    with db.cursor() as cur:
        cur.execute("SELECT run_id FROM discovery_runs WHERE is_current")
        row = cur.fetchone()
    return row["run_id"] if row else None


def profiles(db, run_id: int) -> pd.DataFrame:
    with db.cursor() as cur:
        cur.execute("""SELECT c.store_customer_id, p.* FROM customer_profiles p
                       JOIN customers c USING (customer_id) WHERE p.run_id = %s""", (run_id,))
        return pd.DataFrame(cur.fetchall())


def test_run_publishes_a_profile_for_every_customer(store, first_run):
    db, _ = store
    assert current_run_id(db) == first_run.run_id
    frame = profiles(db, first_run.run_id)
    with db.cursor() as cur:
        cur.execute("SELECT count(DISTINCT customer_id) AS n FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL")
        buyers = cur.fetchone()["n"]
        cur.execute("SELECT status, counts, stage_seconds, metrics FROM discovery_runs WHERE run_id = %s",
                    (first_run.run_id,))
        run = cur.fetchone()
    assert len(frame) == buyers == first_run.customers
    assert run["status"] == "published"
    assert set(run["stage_seconds"]) == {"features", "clustering", "churn", "publish"}
    assert run["counts"]["insufficient_history"] == int((frame["history"] == "insufficient").sum()) > 0
    assert (frame.loc[frame["orders"] == 1, "history"] == "insufficient").all()
    for column in ("churn_probability", "probability_alive"):
        assert frame[column].between(0, 1).all()
    assert (frame["expected_purchases_90d"] >= frame["expected_purchases_30d"] - 1e-9).all()
    assert (frame["predicted_clv_12m"].astype(float) >= 0).all()
    assert set(frame["risk_level"]) <= {"low", "medium", "high", "critical"}
    assert set(frame["value_tier"]) <= {"whale", "vip", "high", "regular", "new"}
    assert frame["archetype_id"].str.fullmatch(r"A-[0-9a-f]{6}").all()
    assert run["metrics"]["churn_model"] and run["metrics"]["backtest"]["possible"]


def test_memberships_are_valid_per_axis(store, first_run):
    db, _ = store
    frame = profiles(db, first_run.run_id)
    with db.cursor() as cur:
        cur.execute("SELECT axis, name FROM segments WHERE run_id = %s", (first_run.run_id,))
        segments = pd.DataFrame(cur.fetchall())
    for axis in AXES:
        names = set(segments.loc[segments["axis"] == axis, "name"])
        memberships = frame["memberships"].map(lambda m: m[axis])
        assert memberships.map(lambda m: set(m) == names).all()
        totals = memberships.map(lambda m: sum(m.values()))
        assert np.allclose(totals, 1.0, atol=0.003)  # rounded to 3 decimals per segment
        assert memberships.map(lambda m: all(0 <= v <= 1 for v in m.values())).all()
        top = memberships.map(lambda m: max(m, key=m.get))
        dominant = frame["dominant_segments"].map(lambda d: d[axis])
        # The dominant segment is the largest membership (ties only through rounding).
        assert (top == dominant).mean() > 0.99
        assert frame["segment_strengths"].map(lambda s: s[axis] in {"strong", "balanced", "weak"}).all()


def test_segments_and_archetypes_are_consistent(store, first_run):
    db, _ = store
    frame = profiles(db, first_run.run_id)
    with db.cursor() as cur:
        cur.execute("SELECT * FROM archetypes WHERE run_id = %s", (first_run.run_id,))
        archetypes = pd.DataFrame(cur.fetchall())
        cur.execute("SELECT axis, name, members, interpretation FROM segments WHERE run_id = %s", (first_run.run_id,))
        segments = pd.DataFrame(cur.fetchall())
    assert set(frame["archetype_id"]) == set(archetypes["archetype_id"])
    assert archetypes["members"].sum() == len(frame)
    assert archetypes["share"].sum() == pytest.approx(1.0)
    counted = frame["archetype_id"].value_counts()
    assert all(counted[a] == m for a, m in zip(archetypes["archetype_id"], archetypes["members"]))
    assert archetypes["description"].str.len().gt(20).all()
    for axis in AXES:
        rows = segments[segments["axis"] == axis]
        assert rows["name"].is_unique and rows["members"].sum() == len(frame)
        assert rows["interpretation"].str.len().gt(10).all()


# Which planted type shows on which axis (discovery/synthetic.py's docstring): these types
# against everyone else ("ordinary").
CARRIED = {
    "price_sensitivity": ["discount_hunter"],
    "repurchase": ["premium_loyalist"],
    "returns": ["serial_returner"],
    "exploration": ["premium_loyalist"],
    "cadence": ["seasonal_gift_buyer", "weekend_crafter"],
}
# Axes whose truth covers every customer, from the generator (synthetic.axis_labels): frequency
# bands (frequent / regular / occasional / one_time) and the lifecycle state at the end of the
# history (new / established / lapsed).
BANDED = ["frequency", "maturity"]
# Measured ARI on this 3,000-customer store (seed 11), customers with 3+ orders: price 0.99,
# repurchase 0.98, returns 0.97, exploration 0.89, cadence 0.88, frequency 0.83, maturity 0.84
# (seed 13: see test_planted_types_are_recovered_on_a_second_seed). Cadence was 0.84 / 0.81 / 0.79
# on seeds 11 / 13 / 14 before the holiday share was judged against each customer's exposure.


def planted_ari(store, run_id: int, axis: str, min_orders: int = 3) -> float:
    db, truth = store
    frame = profiles(db, run_id).merge(truth, left_on="store_customer_id", right_on="customer_id")
    frame = frame[frame["orders"] >= min_orders]
    if axis in BANDED:
        planted = axis_labels(frame, axis)
    else:
        planted = frame["planted_type"].where(frame["planted_type"].isin(CARRIED[axis]), "ordinary")
    return adjusted_rand_score(planted, frame["dominant_segments"].map(lambda d: d[axis]))


@pytest.mark.parametrize("axis", [*CARRIED, *BANDED])
def test_planted_types_are_recovered(store, first_run, axis):
    # Customers with 3+ orders: with one or two orders a discount, a return or a weekend order is
    # one event, not a behaviour, and a rate from a single gap is noise.
    assert planted_ari(store, first_run.run_id, axis) >= 0.8


@pytest.fixture(scope="module")
def second_run(second_store, tmp_path_factory):
    db, _ = second_store
    settings = load_settings(database_url=db.url, data_dir=tmp_path_factory.mktemp("disc13"), redis_url=None,
                             discovery_min_customers=50, _env_file=None)
    summary = run_discovery(db, settings)
    assert summary.status == "published", summary.error
    return summary


@pytest.mark.parametrize("axis", [*CARRIED, *BANDED])
def test_planted_types_are_recovered_on_a_second_seed(second_store, second_run, axis):
    assert planted_ari(second_store, second_run.run_id, axis) >= 0.8


def test_as_of_ignores_later_orders(store, store_settings, first_run):
    db, _ = store
    summary = run_discovery(db, store_settings, as_of="2024-06-30")
    assert summary.status == "published", summary.error
    frame = profiles(db, summary.run_id)
    assert frame["last_order_at"].max() <= pd.Timestamp("2024-07-01", tz="UTC")
    assert summary.customers < first_run.customers
    assert (frame["recency_days"] >= 0).all()
    back = run_discovery(db, store_settings)
    assert back.status == "published" and current_run_id(db) == back.run_id


def test_export_profiles_csv(store, first_run, tmp_path):
    db, _ = store
    out = tmp_path / "profiles.csv"
    rows = export_profiles(db, out)
    with out.open() as handle:
        reader = csv.reader(handle)
        header = next(reader)
        body = list(reader)
    assert header[:5] == ["store_customer_id", "churn_probability", "expected_purchases_90d",
                          "predicted_clv_12m", "archetype_id"]
    assert header[5:13] == [f"segment_{a}" for a in AXES]
    assert rows == len(body) > 0
    with pytest.raises(ExportError, match="does not exist"):
        export_profiles(db, tmp_path / "missing" / "x.csv")


def test_too_few_customers_is_rejected_and_reported(store, store_settings, capsys):
    db, _ = store
    before = current_run_id(db)
    strict = store_settings.model_copy(update={"discovery_min_customers": 1_000_000})
    code = run_discovery_cli(db, strict, as_of=None, as_json=True)
    payload = json.loads(capsys.readouterr().out)
    assert code == 3
    assert payload["status"] == "rejected" and "DISCOVERY_MIN_CUSTOMERS" in payload["error"]
    assert {"run_id", "as_of", "customers", "archetypes", "seconds", "stage_seconds"} <= set(payload)
    assert current_run_id(db) == before


def test_cli_json_summary(store, store_settings, capsys):
    code = run_discovery_cli(store[0], store_settings, as_of=None, as_json=True)
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["status"] == "published"
    assert payload["customers"] > 0 and payload["archetypes"] > 0 and payload["seconds"] > 0
    assert set(payload["stage_seconds"]) == {"features", "clustering", "churn", "publish"}
    assert run_discovery_cli(store[0], store_settings, as_of="31/12/2024", as_json=True) == 2


def test_failure_inside_publish_leaves_previous_run_current(store, store_settings):
    db, _ = store
    before = current_run_id(db)

    def explode():
        raise RuntimeError("disk full (injected)")

    summary = run_discovery(db, store_settings, _before_commit=explode)
    assert summary.status == "failed" and "injected" in summary.error
    assert current_run_id(db) == before
    with db.cursor() as cur:
        cur.execute("SELECT status, error FROM discovery_runs WHERE run_id = %s", (summary.run_id,))
        assert cur.fetchone()["status"] == "failed"
        cur.execute("SELECT count(*) AS n FROM customer_profiles WHERE run_id = %s", (summary.run_id,))
        assert cur.fetchone()["n"] == 0


KILL_SCRIPT = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from settings import load_settings
from sql.database import Database
from discovery.pipeline import run_discovery
settings = load_settings(database_url={url!r}, discovery_min_customers=50, _env_file=None)
db = Database(settings.database_url)

def hang():
    Path({marker!r}).write_text("publishing")  # rows are COPYed, the flip has not happened
    time.sleep(120)

run_discovery(db, settings, _before_commit=hang)
"""


def test_process_killed_mid_publish_leaves_previous_run_current(store, store_settings, tmp_path):
    db, _ = store
    before = current_run_id(db)
    marker = tmp_path / "marker"
    script = KILL_SCRIPT.format(root=str(ROOT), url=db.url, marker=str(marker))
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the run never reached the publish stage"
            time.sleep(0.2)
        # While that process is publishing, a second run (here: this process) starts nothing and
        # names the run in progress.
        with db.cursor() as cur:
            cur.execute("SELECT max(run_id) AS run_id, count(*) AS n FROM discovery_runs")
            hanging = cur.fetchone()
        busy = run_discovery(db, store_settings)
        assert busy.status == "busy" and busy.run_id is None
        assert f"another discovery run is in progress (run {hanging['run_id']}, started " in busy.error
        with db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM discovery_runs")
            assert cur.fetchone()["n"] == hanging["n"]
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert current_run_id(db) == before
    with db.cursor() as cur:
        cur.execute("SELECT run_id, status FROM discovery_runs ORDER BY run_id DESC LIMIT 1")
        killed = cur.fetchone()
        assert killed["run_id"] == hanging["run_id"]
        assert killed["status"] == "running"  # what a kill leaves behind, until the next run
        # PostgreSQL rolls back the dead session's transaction: none of its rows survive.
        for _ in range(50):
            cur.execute("SELECT count(*) AS n FROM customer_profiles WHERE run_id = %s", (killed["run_id"],))
            if cur.fetchone()["n"] == 0:
                break
            time.sleep(0.2)
        else:
            pytest.fail("rows of the killed run are visible")
    # The next run holds the lock, so the killed run's record cannot belong to a live process: it
    # is marked failed at once (the dead session's lock goes with it, so the next run may start).
    deadline = time.monotonic() + 30
    while (after := run_discovery(db, store_settings)).status == "busy" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert after.status == "published", after.error
    with db.cursor() as cur:
        cur.execute("SELECT status, error, finished_at FROM discovery_runs WHERE run_id = %s", (killed["run_id"],))
        record = cur.fetchone()
    assert record["status"] == "failed" and record["error"] == "process ended before publishing"
    assert record["finished_at"] is not None


def test_cli_refuses_while_another_session_holds_the_discovery_lock(store, store_settings, capsys):
    db, _ = store
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM discovery_runs")
        runs_before = cur.fetchone()["n"]
    before = current_run_id(db)
    with psycopg.connect(db.url, autocommit=True) as holder:
        assert holder.execute(query("discovery.try_discovery_lock")).fetchone()[0]
        # The holder has taken the lock and not written its record yet.
        code = run_discovery_cli(store[0], store_settings, as_of=None, as_json=True)
        payload = json.loads(capsys.readouterr().out)
        assert code == 4
        assert payload["status"] == "busy" and payload["run_id"] is None
        assert payload["error"] == "another discovery run is in progress (starting)"
        assert run_discovery_cli(store[0], store_settings, as_of=None, as_json=False) == 4
        assert "another discovery run is in progress" in capsys.readouterr().out
    with db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM discovery_runs")
        assert cur.fetchone()["n"] == runs_before
    assert current_run_id(db) == before


def test_two_schedulers_against_one_database_run_discovery_once(fresh_database_url, tmp_path):
    from discovery.scheduler import DiscoveryScheduler

    url = fresh_database_url()
    settings = load_settings(database_url=url, data_dir=tmp_path, redis_url=None, discovery_min_customers=50,
                             discovery_cron="0 3 * * *", _env_file=None)
    dbs = [Database(url), Database(url)]
    orders, _ = generate_store(StoreSpec(customers=300, seed=5))
    import_frame(dbs[0], orders, "synthetic")
    published: list[int] = []
    schedulers = [DiscoveryScheduler(settings, db, on_published=published.append) for db in dbs]
    try:
        # No current run and some orders: both instances start one in the background on start…
        for scheduler in schedulers:
            scheduler.start()
        deadline = time.monotonic() + 120
        while not published and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)
        for scheduler in schedulers:
            scheduler.wait_idle(timeout=120)
        # … and when the cron slot fires on both at once, again only one runs.
        import threading
        results = []
        threads = [threading.Thread(target=lambda s=s: results.append(s.run_once())) for s in schedulers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        for scheduler in schedulers:
            scheduler.shutdown()
    with dbs[0].cursor() as cur:
        cur.execute("SELECT run_id, status, is_current FROM discovery_runs")
        runs = cur.fetchall()
    for db in dbs:
        db.close()
    assert len(runs) == 1 and runs[0]["status"] == "published" and runs[0]["is_current"]
    assert published == [runs[0]["run_id"]]
    assert results == [None, None]  # the slot was taken by the start-up run
