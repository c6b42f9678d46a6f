"""One discovery run, end to end: features → segments per axis → memberships → archetypes →
churn and value → publish atomically. Also the `python app.py discover` command.

A run is recorded in discovery_runs as 'running' first (its own small transaction). Everything it
publishes — axes, segments, archetypes and profiles (profiles by COPY) — is written and the run
flipped to current in ONE transaction, so readers see the old run or the new one, never a mix; a
crash or kill anywhere leaves the previous run current. Implausible runs (fewer customers than
DISCOVERY_MIN_CUSTOMERS) are recorded as 'rejected', failures as 'failed', with the reason.

One run at a time: a run holds a PostgreSQL session advisory lock on a dedicated connection from
before its record is written until it ends, whoever started it (CLI, demo, scheduler). A run that
cannot take the lock starts nothing and returns status 'busy' naming the run in progress. Holding
the lock proves that no other run is alive, so any other 'running' record (a killed process) is
marked failed right away.

Retention (by started_at, i.e. when the run happened, so a store whose data does not move still
keeps history): the current run, every published run started in the last 7 days, and the
published runs started nearest to 7, 14 and 28 days ago are kept; other published runs are
deleted (their rows go by ON DELETE CASCADE). Unpublished records: the newest 20 are kept.
"""
from __future__ import annotations

import io
import json
import logging
import resource
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import psycopg
from psycopg.types.json import Jsonb
from pydantic import BaseModel
from threadpoolctl import threadpool_limits

from discovery import archetypes as archetype_mod
from discovery.churn import score_customers
from discovery.clustering import PHRASES, AxisClusterer, name_segments
from discovery.features import AXIS_FEATURES, compute_features, resolve_as_of
from discovery.memberships import fuzzy_memberships, strengths
from sql import query

log = logging.getLogger(__name__)

STAGES = ("features", "clustering", "churn", "publish")
NEW_CUSTOMER_DAYS = 30
TIER_NAMES = ("whale", "vip", "high")
RETENTION_DAYS = (7, 14, 28)
# Axes clustered on customers with two or more orders (see _cluster_axis); frequency, value and
# maturity are measured from a single order as well as from many, so everyone shapes them.
HISTORY_AXES = {"exploration", "price_sensitivity", "cadence", "repurchase", "returns"}
KEEP_UNPUBLISHED = 20
# Statuses of a run that did not start (nothing recorded), with the CLI's exit code for each.
BUSY = "busy"          # another process holds the discovery lock
SKIPPED = "skipped"    # the scheduler's slot was already taken by a run started moments ago
EXIT_CODES = {"published": 0, "failed": 1, "rejected": 3, BUSY: 4, SKIPPED: 4}


class RunSummary(BaseModel):
    run_id: int | None
    status: str
    as_of: datetime | None
    customers: int = 0
    archetypes: int = 0
    seconds: float = 0.0
    stage_seconds: dict[str, float] = {}
    stage_peak_mb: dict[str, float] = {}
    stage_cpu_seconds: dict[str, float] = {}   # this process's CPU (not PostgreSQL's): load-independent
    metrics: dict = {}
    counts: dict = {}
    error: str | None = None

    def describe(self) -> str:
        if self.run_id is None and self.status in (BUSY, SKIPPED):
            return f"discovery not started ({self.status}): {self.error}"
        lines = [f"discovery run {self.run_id}: {self.status}"
                 + (f" (as of {self.as_of:%Y-%m-%d %H:%M} UTC)" if self.as_of else "")]
        if self.error:
            lines.append(f"  reason: {self.error}")
        lines.append(f"  customers {self.customers:,}  archetypes {self.archetypes}  in {self.seconds:.1f} s")
        if self.stage_seconds:
            lines.append("  " + "  ".join(f"{k} {v:.1f}s" for k, v in self.stage_seconds.items()))
        churn = self.metrics.get("churn_model")
        if churn:
            auc = self.metrics.get("churn_auc")
            lines.append(f"  churn model: {churn}" + (f" (backtest AUC {auc:.3f})" if auc else ""))
        weak = self.metrics.get("weak_axes") or []
        if weak:
            lines.append(f"  weak axes: {', '.join(weak)}")
        return "\n".join(lines)


class DiscoveryRejected(Exception):
    """The data cannot support a plausible run; the message says why."""


def _peak_mb() -> float:
    # ru_maxrss is KiB on Linux: the process's peak so far (monotone; per-stage growth shows in the bench).
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def value_tiers(revenue: np.ndarray, tenure_days: np.ndarray, table: list[tuple[float, float]]) -> np.ndarray:
    """`new` within 30 days of the first order; otherwise by lifetime revenue against the
    compensation thresholds, highest first: whale, vip, high; below the lowest named one, regular."""
    thresholds = [t for t, _ in table if t > 0][: len(TIER_NAMES)]
    tiers = np.full(len(revenue), "regular", dtype=object)
    for threshold, name in reversed(list(zip(thresholds, TIER_NAMES))):
        tiers[revenue >= threshold] = name
    tiers[tenure_days <= NEW_CUSTOMER_DAYS] = "new"
    return tiers


def _json_numbers(values, decimals: int = 4) -> pa.Array:
    """Numbers as JSON literals (NaN/inf → null), formatted by Arrow in C++, not per row in Python."""
    numbers = np.round(np.asarray(values, dtype=float), decimals)
    numbers[~np.isfinite(numbers)] = np.nan
    return pc.fill_null(pc.cast(pa.array(numbers, from_pandas=True), pa.string()), "null")


def _json_strings(values) -> pa.Array:
    """Labels as JSON strings: encoded once per distinct label, then gathered."""
    uniques, inverse = np.unique(np.asarray(values).astype(str), return_inverse=True)
    encoded = pa.array([json.dumps(u) for u in uniques], type=pa.string())
    return encoded.take(pa.array(inverse.reshape(-1)))


def _json_object(pairs: list[tuple[str, pa.Array]]) -> pa.Array:
    """Per-row JSON objects from (key, JSON-encoded column) pairs, joined column-wise by Arrow."""
    pieces: list = []
    for i, (key, column) in enumerate(pairs):
        pieces += [("{" if i == 0 else ", ") + json.dumps(key) + ": ", column]
    pieces.append("}")
    return pc.binary_join_element_wise(*pieces, "")


class _Stages:
    def __init__(self, progress) -> None:
        self.seconds: dict[str, float] = {}
        self.peak: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.progress = progress

    def run(self, name: str, fn: Callable, *args):
        self.progress(STAGES.index(name), len(STAGES), name)
        started = time.perf_counter()
        cpu_started = time.process_time()
        # One BLAS/OpenMP thread: the work is many small fits, where threads spin-wait more than
        # they help, badly so on a shared 2-core machine (clustering 10 s vs 1.2 s on 3,000 customers).
        with threadpool_limits(limits=1):
            result = fn(*args)
        self.seconds[name] = round(time.perf_counter() - started, 3)
        self.cpu[name] = round(time.process_time() - cpu_started, 3)
        self.peak[name] = round(_peak_mb(), 1)
        return result


def cluster_axes(features, settings) -> dict:
    """Per axis: clusterer, segment names/interpretations/centroids, memberships, dominant, strength."""
    return {axis: _cluster_axis(features, settings, axis, names) for axis, names in AXIS_FEATURES.items()}


def _cluster_axis(features, settings, axis: str, names: list[str]) -> dict:
    X = features.scaled(axis)
    clusterer = AxisClusterer(k_min=settings.discovery_k_min, k_max=settings.discovery_k_max,
                              silhouette_sample=settings.discovery_silhouette_sample)
    full = (features.frame["history"] == "full").to_numpy()
    if axis in HISTORY_AXES and full.sum() >= max(settings.discovery_min_customers, 0.2 * len(full)):
        # Share-type behaviour (discounts, timing, returns, re-buying, breadth) is unobservable in a
        # single order: those customers' features are mostly the prior, so they do not shape the
        # segments; they are placed by nearest centre and their memberships show the uncertainty.
        clusterer.fit(X[full])
        clusterer.labels_ = clusterer.predict(X)
    else:
        clusterer.fit(X)
    centers = clusterer.cluster_centers_
    # Order segments along the axis by their mean scaled position (for name tie-breaks and
    # for a stable segment order in the published rows).
    order_key = centers.mean(axis=1)
    segments = name_segments(axis, names, features.raw(axis), clusterer.labels_, clusterer.k_, order_key)
    U = fuzzy_memberships(X, centers)
    segment_names = [s[0] for s in segments]
    dominant = np.array(segment_names, dtype=object)[U.argmax(axis=1)]
    return {
        "clusterer": clusterer, "segments": segments, "segment_names": segment_names,
        "memberships": U, "dominant": dominant, "strength": strengths(U),
    }


def build_profiles(features, axes: dict, scores: pd.DataFrame, settings) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Profiles frame (one row per customer), archetype table, and the axes archetypes use."""
    frame = features.frame
    quality = {a: (r["clusterer"].is_weak_, r["clusterer"].silhouette_, archetype_mod.segment_entropy(r["dominant"]))
               for a, r in axes.items()}
    chosen = archetype_mod.choose_axes(quality)
    archetype_ids, table = archetype_mod.form_archetypes(
        chosen, {a: axes[a]["dominant"] for a in chosen}, {a: axes[a]["memberships"] for a in chosen},
        {a: axes[a]["segment_names"] for a in chosen})
    profiles = pd.DataFrame(index=frame.index)
    for column in ("orders", "revenue", "first_order_at", "last_order_at", "avg_order_value",
                   "recency_days", "tenure_days", "history"):
        profiles[column] = frame[column]
    profiles = profiles.join(scores)
    profiles["archetype_id"] = archetype_ids
    for axis, result in axes.items():
        profiles[f"strength_{axis}"] = result["strength"]
    profiles["value_tier"] = value_tiers(frame["revenue"].to_numpy(), frame["tenure_days"].to_numpy(),
                                         settings.compensation_table)
    described = archetype_mod.describe(table, profiles.reset_index(), chosen, PHRASES)
    return profiles, described, chosen


def _profiles_csv(run_id: int, features, axes: dict, profiles: pd.DataFrame) -> bytes:
    """The profiles as CSV for COPY, built column-wise with Arrow (JSON columns included)."""
    frame = features.frame
    n = len(profiles)
    feature_json = _json_object([(name, _json_numbers(frame[name].to_numpy()))
                                 for names in AXIS_FEATURES.values() for name in names])
    membership_json = _json_object([
        (axis, _json_object([(seg, _json_numbers(r["memberships"][:, j], 3)) for j, seg in enumerate(r["segment_names"])]))
        for axis, r in axes.items()])
    dominant_json = _json_object([(axis, _json_strings(r["dominant"])) for axis, r in axes.items()])
    strength_json = _json_object([(axis, _json_strings(r["strength"])) for axis, r in axes.items()])

    def timestamps(column: str) -> pa.Array:
        return pc.strftime(pa.array(profiles[column]), format="%Y-%m-%d %H:%M:%S+00")

    def money(column: str) -> pa.Array:
        return pa.array(np.round(profiles[column].to_numpy(dtype=float), 2))

    def text(column: str) -> pa.Array:
        return pa.array(profiles[column].astype(str).to_numpy(), type=pa.string())

    table = pa.table({
        "run_id": pa.array(np.full(n, run_id, dtype=np.int64)),
        "customer_id": pa.array(profiles.index.to_numpy(dtype=np.int64)),
        "orders": pa.array(profiles["orders"].to_numpy(dtype=np.int64)),
        "revenue": money("revenue"),
        "first_order_at": timestamps("first_order_at"),
        "last_order_at": timestamps("last_order_at"),
        "avg_order_value": money("avg_order_value"),
        "recency_days": pa.array(np.floor(profiles["recency_days"].to_numpy(dtype=float)).astype(np.int64)),
        "tenure_days": pa.array(np.floor(profiles["tenure_days"].to_numpy(dtype=float)).astype(np.int64)),
        "history": text("history"),
        "features": feature_json,
        "memberships": membership_json,
        "dominant_segments": dominant_json,
        "segment_strengths": strength_json,
        "archetype_id": text("archetype_id"),
        "probability_alive": pa.array(np.round(profiles["probability_alive"].to_numpy(dtype=float), 5)),
        "churn_probability": pa.array(np.round(profiles["churn_probability"].to_numpy(dtype=float), 5)),
        "risk_level": text("risk_level"),
        "churn_reasons": text("churn_reasons"),
        "expected_purchases_30d": pa.array(np.round(profiles["expected_purchases_30d"].to_numpy(dtype=float), 5)),
        "expected_purchases_90d": pa.array(np.round(profiles["expected_purchases_90d"].to_numpy(dtype=float), 5)),
        "predicted_clv_12m": money("predicted_clv_12m"),
        "value_tier": text("value_tier"),
        "lifecycle": text("lifecycle"),
    })
    sink = io.BytesIO()
    pacsv.write_csv(table, sink, pacsv.WriteOptions(include_header=False))
    return sink.getvalue()


def _publish(db, run_id: int, features, axes: dict, profiles: pd.DataFrame, archetypes: pd.DataFrame,
             counts: dict, stage_seconds: dict, metrics: dict, before_commit: Callable | None = None) -> None:
    """Write everything under run_id and make it current, in one transaction."""
    payload = _profiles_csv(run_id, features, axes, profiles)
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("SET LOCAL TimeZone = 'UTC'")
        cur.executemany(query("discovery.insert_axis"), [
            {"run_id": run_id, "axis": axis, "k": r["clusterer"].k_, "silhouette": r["clusterer"].silhouette_,
             "is_weak": r["clusterer"].is_weak_, "features": AXIS_FEATURES[axis], "note": r["clusterer"].note_}
            for axis, r in axes.items()])
        segment_rows = []
        for axis, r in axes.items():
            members = pd.Series(r["dominant"]).value_counts()
            for name, interpretation, centroid in r["segments"]:
                segment_rows.append({"run_id": run_id, "axis": axis, "name": name, "interpretation": interpretation,
                                     "centroid": Jsonb(centroid), "members": int(members.get(name, 0))})
        cur.executemany(query("discovery.insert_segment"), segment_rows)
        cur.executemany(query("discovery.insert_archetype"), [
            {"run_id": run_id, "archetype_id": row.archetype_id, "name": row.name, "description": row.description,
             "signature": Jsonb(row.signature), "members": int(row.members), "share": float(row.share),
             "avg_clv": round(float(row.avg_clv), 2), "total_clv": round(float(row.total_clv), 2),
             "avg_orders": float(row.avg_orders)}
            for row in archetypes.itertuples(index=False)])
        with cur.copy(query("discovery.copy_profiles")) as copy:
            view = memoryview(payload)
            for start in range(0, len(view), 1 << 20):
                copy.write(view[start:start + (1 << 20)])
        if before_commit is not None:
            before_commit()
        cur.execute(query("discovery.lock_publishing"))
        cur.execute(query("discovery.unset_current"))
        cur.execute(query("discovery.publish_run"), {
            "run_id": run_id, "counts": Jsonb(counts), "stage_seconds": Jsonb(stage_seconds),
            "metrics": Jsonb(metrics)})


def runs_to_prune(runs: pd.DataFrame, unpublished: pd.DataFrame, now: datetime) -> list[int]:
    """Run ids to delete under the retention rule in the module docstring.
    `runs`: published runs (run_id, started_at, is_current); `unpublished`: (run_id, status, started_at)."""
    doomed: list[int] = []
    if len(runs):
        started = pd.to_datetime(runs["started_at"], utc=True)
        now_ts = pd.Timestamp(now)
        keep = runs["is_current"].to_numpy() | (started >= now_ts - pd.Timedelta(days=7)).to_numpy()
        for days in RETENTION_DAYS:
            distance = (started - (now_ts - pd.Timedelta(days=days))).abs()
            keep[int(np.argmin(distance.to_numpy()))] = True
        doomed += runs.loc[~keep, "run_id"].astype(int).tolist()
    if len(unpublished) > KEEP_UNPUBLISHED:
        doomed += unpublished["run_id"].iloc[KEEP_UNPUBLISHED:].astype(int).tolist()
    return doomed


def prune_runs(db) -> list[int]:
    with db.connection() as conn, conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT now()")
        now = cur.fetchone()[0]
        cur.execute(query("discovery.published_run_ages"))
        runs = pd.DataFrame(cur.fetchall(), columns=["run_id", "started_at", "is_current"])
        cur.execute(query("discovery.unpublished_runs"))
        unpublished = pd.DataFrame(cur.fetchall(), columns=["run_id", "status", "started_at"])
        doomed = runs_to_prune(runs, unpublished, now)
        if doomed:
            cur.execute(query("discovery.delete_runs"), {"run_ids": doomed})
    return doomed


def _record_unpublished(db, run_id: int, status: str, error: str, counts: dict, stage_seconds: dict, metrics: dict) -> None:
    with db.connection() as conn, conn.cursor() as cur:
        cur.execute(query("discovery.finish_run_unpublished"), {
            "run_id": run_id, "status": status, "error": error[:2000], "counts": Jsonb(counts),
            "stage_seconds": Jsonb(stage_seconds), "metrics": Jsonb(metrics)})


@contextmanager
def discovery_lock(db):
    """Try the one-run-at-a-time lock; yields True while held, False if another session holds it.

    A session lock on its own autocommit connection, not a pooled one: a pooled connection would
    carry the lock to its next borrower, and session locks are re-entrant only within one session."""
    with db.connect_outside_pool(autocommit=True) as lock_conn:
        acquired = bool(lock_conn.execute(query("discovery.try_discovery_lock")).fetchone()[0])
        try:
            yield acquired
        finally:
            if acquired and not lock_conn.closed:
                lock_conn.execute(query("discovery.release_discovery_lock"))


def _busy_message(db) -> str:
    with db.cursor() as cur:
        cur.execute(query("discovery.running_run"))
        row = cur.fetchone()
    if row is None:  # the holder has the lock but has not written its record yet
        return "another discovery run is in progress (starting)"
    started = row["started_at"].astimezone(timezone.utc)
    return f"another discovery run is in progress (run {row['run_id']}, started {started:%Y-%m-%d %H:%M:%S} UTC)"


def run_discovery(db, settings, as_of=None, progress=None, on_published=None, *,
                  skip_if_started_within: float | None = None, _before_commit=None,
                  _load_features: Callable | None = None) -> RunSummary:
    """Run discovery and publish it, one run at a time. Never raises for data problems, a run in
    progress or failures inside the run: the summary's status (published / rejected / failed, or
    busy / skipped with nothing started and run_id None) and error say what happened.

    `as_of`: None (the latest order), a date/datetime, or 'YYYY-MM-DD' (the end of that day, UTC).
    `on_published(run_id)`: called after a successful publish (cache invalidation and warming).
    `skip_if_started_within` (the scheduler): seconds; if any run started that recently, this
    schedule slot is taken and the call returns 'skipped' (checked under the lock, so instances
    whose clocks differ cannot both run the same slot).
    `_before_commit` (tests: inject a failure before the flip) and `_load_features(as_of) ->
    (FeatureSet, order facts)` (the benchmark: features from generated frames) are test hooks."""
    started = time.perf_counter()

    def not_started(status: str, message: str) -> RunSummary:
        log.info("discovery not started (%s): %s", status, message)
        return RunSummary(run_id=None, status=status, as_of=None,
                          seconds=round(time.perf_counter() - started, 3), error=message)

    with discovery_lock(db) as acquired:
        if not acquired:
            return not_started(BUSY, _busy_message(db))
        with db.cursor() as cur:
            if skip_if_started_within is not None:
                cur.execute(query("discovery.recent_run_started"), {"seconds": skip_if_started_within})
                if cur.fetchone()["taken"]:
                    return not_started(SKIPPED, f"a run already started in the last {skip_if_started_within:g} s "
                                                "(this schedule slot is taken)")
            cur.execute(query("discovery.mark_stale_running"))
            stale = [row["run_id"] for row in cur.fetchall()]
        if stale:
            log.warning("discovery runs %s were left 'running' by a process that ended; marked failed", stale)
        return _run_locked(db, settings, as_of, progress, on_published, started, _before_commit, _load_features)


def _run_locked(db, settings, as_of, progress, on_published, started: float, _before_commit,
                _load_features) -> RunSummary:
    progress = progress or (lambda *a, **k: None)
    with db.cursor() as cur:
        cur.execute(query("discovery.latest_order_at"))
        latest = cur.fetchone()["latest"]
    as_of_ts = resolve_as_of(as_of, latest) if (as_of is not None or latest is not None) else None
    if as_of_ts is not None:  # a run is never measured from a day that has not happened yet
        as_of_ts = min(as_of_ts, pd.Timestamp.now(tz="UTC"))
    record_as_of = as_of_ts.to_pydatetime() if as_of_ts is not None else datetime.now(timezone.utc)
    parameters = {"k_min": settings.discovery_k_min, "k_max": settings.discovery_k_max,
                  "silhouette_sample": settings.discovery_silhouette_sample,
                  "min_customers": settings.discovery_min_customers,
                  "as_of_requested": None if as_of is None else str(as_of)}
    with db.cursor() as cur:
        cur.execute(query("discovery.start_run"), {"as_of": record_as_of, "parameters": Jsonb(parameters)})
        run_id = cur.fetchone()["run_id"]
    stages = _Stages(progress)
    counts: dict = {}
    metrics: dict = {}

    def finish(status: str, error: str | None, archetype_count: int = 0) -> RunSummary:
        return RunSummary(run_id=run_id, status=status, as_of=record_as_of, customers=counts.get("customers", 0),
                          archetypes=archetype_count, seconds=round(time.perf_counter() - started, 3),
                          stage_seconds=stages.seconds, stage_peak_mb=stages.peak,
                          stage_cpu_seconds=stages.cpu, metrics=metrics,
                          counts=counts, error=error)

    try:
        if as_of_ts is None:
            raise DiscoveryRejected("there are no orders from known customers yet")
        if _load_features is not None:
            features, orders = stages.run("features", _load_features, as_of_ts)
        else:
            features, orders = stages.run("features", compute_features, db, as_of_ts)
        counts.update(features.counts)
        if features.counts["customers"] < settings.discovery_min_customers:
            raise DiscoveryRejected(
                f"only {features.counts['customers']} customers with orders up to {as_of_ts:%Y-%m-%d}; "
                f"at least {settings.discovery_min_customers} (DISCOVERY_MIN_CUSTOMERS) are needed")
        axes = stages.run("clustering", cluster_axes, features, settings)
        scores, churn_metrics = stages.run("churn", score_customers, features, orders)
        metrics.update(churn_metrics)
        metrics["axes"] = {a: {"k": r["clusterer"].k_, "silhouette": r["clusterer"].silhouette_,
                               "is_weak": r["clusterer"].is_weak_, "silhouettes": r["clusterer"].silhouettes_}
                           for a, r in axes.items()}
        metrics["weak_axes"] = [a for a, r in axes.items() if r["clusterer"].is_weak_]

        def publish():
            profiles, table, chosen = build_profiles(features, axes, scores, settings)
            metrics["archetype_axes"] = chosen
            counts["archetypes"] = int(len(table))
            counts["segments"] = int(sum(r["clusterer"].k_ for r in axes.values()))
            seconds = dict(stages.seconds)
            _publish(db, run_id, features, axes, profiles, table, counts, seconds, metrics, _before_commit)
            return len(table)

        archetype_count = stages.run("publish", publish)
        # Record the publish stage's own time too (the row was written inside the transaction).
        with db.cursor() as cur:
            cur.execute(query("discovery.record_stage_seconds"),
                        {"stage_seconds": Jsonb(stages.seconds), "run_id": run_id})
    except DiscoveryRejected as exc:
        _record_unpublished(db, run_id, "rejected", str(exc), counts, stages.seconds, metrics)
        log.warning("discovery run %s rejected: %s", run_id, exc)
        return finish("rejected", str(exc))
    except Exception as exc:
        log.exception("discovery run %s failed", run_id)
        try:
            _record_unpublished(db, run_id, "failed", f"{type(exc).__name__}: {exc}", counts, stages.seconds,
                                _json_safe(metrics))
        except Exception:
            log.exception("could not record the failure of run %s", run_id)
        return finish("failed", f"{type(exc).__name__}: {exc}")
    progress(len(STAGES), len(STAGES), "published")
    try:
        pruned = prune_runs(db)
        if pruned:
            log.info("pruned discovery runs %s", pruned)
    except Exception:
        log.exception("pruning old discovery runs failed (the new run is published)")
    if on_published is not None:
        try:
            on_published(run_id)
        except Exception:
            log.exception("on_published hook failed for run %s", run_id)
    return finish("published", None, archetype_count)


def _json_safe(value):
    return json.loads(json.dumps(value, default=str))


def run_discovery_cli(db, settings, as_of: str | None, as_json: bool,
                      on_published: Callable[[int], None] | None = None) -> int:
    """`python app.py discover`: 0 published, 3 rejected (the data cannot support a run), 1 failed,
    2 a bad --as-of value, 4 another run in progress (nothing started). `on_published(run_id)` is
    the composition root's hook (cache refresh)."""
    from discovery.progress import no_progress, terminal_progress

    if as_of is not None:
        try:
            resolve_as_of(as_of, None)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    summary = run_discovery(db, settings, as_of=as_of,
                            progress=no_progress if as_json else terminal_progress("Discovery"),
                            on_published=on_published)
    if as_json:
        payload = summary.model_dump(mode="json")
        payload["seconds_per_stage"] = payload["stage_seconds"]
        print(json.dumps(payload, default=str))
    else:
        print(summary.describe())
    return EXIT_CODES.get(summary.status, 1)
