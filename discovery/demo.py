"""The zero-config demo's preparation: load the synthetic store into an empty database, fold it for
the product questions, run discovery, and say what is there. A second run on the same data reuses
all of it (it is fast). Every step writes a line (discovery.progress.Step), terminal or not."""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Callable

from discovery.progress import Step
from discovery.synthetic import StoreSpec, generate_store
from sql import query

log = logging.getLogger(__name__)

TRUTH_FILE = "synthetic_store.truth.csv"


def _store_summary(db) -> dict:
    with db.cursor() as cur:
        cur.execute(query("demo.store_summary"))
        return cur.fetchone()


def _has_orders(db) -> bool:
    with db.cursor() as cur:
        cur.execute(query("demo.has_orders"))
        return bool(cur.fetchone()["has_orders"])


def _current_run(db) -> dict | None:
    with db.cursor() as cur:
        cur.execute(query("demo.current_run"))
        return cur.fetchone()


def load_synthetic_store(db, settings, customers: int | None = None, timings: dict | None = None) -> str:
    """Generate the synthetic store and import it; returns one line saying what was loaded.

    The truth side file (planted types) goes to DATA_DIR for anyone checking discovery by hand;
    it is never loaded into the database. timings, when given, receives the seconds of each step."""
    from discovery.importer import import_frame

    timings = {} if timings is None else timings
    spec = StoreSpec() if customers is None else StoreSpec(customers=customers)
    step = Step("Generating store")
    orders, truth = generate_store(spec, progress=step.progress)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    truth.to_csv(settings.data_dir / TRUTH_FILE, index=False, lineterminator="\n")
    generated = timings["generate"] = step.done(f"{len(orders):,} lines")
    step = Step("Loading orders")
    summary = import_frame(db, orders, f"synthetic store ({spec.customers:,} customers, seed {spec.seed})",
                           progress=step.progress)
    timings["import"] = step.done(f"{summary.rows_loaded:,} lines")
    if summary.rows_rejected:
        # The generator writes the canonical format itself: a rejected row is a bug, not bad data.
        log.error("the importer rejected %d synthetic rows: %s", summary.rows_rejected, summary.notes)
    return (f"Generated a synthetic fabric & quilting store ({spec.customers:,} customers, "
            f"{len(orders):,} order lines) in {generated:.1f} s and loaded it in {summary.seconds:.1f} s.")


def _run_discovery(db, settings, timings: dict) -> str:
    from discovery.pipeline import run_discovery

    # run_discovery records its own failures in the run's status; it does not raise for them.
    step = Step("Discovery")
    summary = run_discovery(db, settings, progress=step.progress)
    timings["discovery"] = step.done(f"run {summary.run_id or '-'} {summary.status}")
    return summary.describe()


def _hook_step(label: str, hook: Callable[[object], str] | None, db, timings: dict, key: str) -> None:
    if hook is None:
        return
    step = Step(label)
    timings[key] = step.done(hook(db))


def run_alongside(label: str, hook: Callable[[object], str] | None, db, timings: dict,
                  key: str) -> Callable[[], None]:
    """Start hook(db) as a step of its own in a thread (its line is written when it ends); returns the
    function that waits for it and raises what it raised. Used for independent work on the database
    while this thread does other work (the machine has two cores: PostgreSQL's and Python's)."""
    failure: list[BaseException] = []

    def work() -> None:
        try:
            _hook_step(label, hook, db, timings, key)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller by wait()
            failure.append(exc)

    thread = threading.Thread(target=work, name=f"demo: {label}", daemon=True)
    thread.start()

    def wait() -> None:
        thread.join()
        if failure:
            raise failure[0]

    return wait


def _describe_store(counts: dict) -> list[str]:
    first: datetime | None = counts["first_order_at"]
    last: datetime | None = counts["last_order_at"]
    dates = f"{first:%Y-%m-%d} to {last:%Y-%m-%d}" if first and last else "none"
    return [
        f"  customers    {counts['customers']:>12,}",
        f"  orders       {counts['sale_orders']:>12,}   ({counts['return_orders']:,} returns, "
        f"{counts['guest_orders']:,} guest orders)",
        f"  order lines  {counts['lines']:>12,}",
        f"  dates        {dates}",
        f"  net revenue  {float(counts['net_revenue']):>12,.2f}",
    ]


def prepare_demo(db, settings, customers: int | None = None, *,
                 after_load: Callable[[object], str] | None = None,
                 timings: dict | None = None) -> str:
    """Make sure the demo has data and a discovery run; returns a short report for the terminal.

    Empty database: generate the synthetic store (default size, or `customers`), import it and run
    discovery. Data already there: keep it, and reuse the current discovery run if there is one.
    after_load(db) runs once the orders are there (the product statistics: a no-op when current),
    alongside discovery when there is one to run (they do not depend on each other); it returns what
    it did, for its step's line. timings, when given, receives the seconds of each step by name
    (generate, import, fold, discovery)."""
    if customers is not None and customers < 1:
        raise ValueError(f"--customers must be at least 1, got {customers}")
    timings = {} if timings is None else timings
    lines: list[str] = []
    loaded_now = False
    if _has_orders(db):
        lines.append("Using the orders already in the database.")
        if customers is not None:
            lines.append(f"  (--customers {customers:,} is ignored: the store is only generated into an empty database)")
    else:
        lines.append(load_synthetic_store(db, settings, customers, timings))
        loaded_now = True
    current = None if loaded_now else _current_run(db)
    if current is not None:
        _hook_step("Product statistics", after_load, db, timings, "fold")
        folded = None
    else:
        folded = run_alongside("Product statistics", after_load, db, timings, "fold")
    if settings.database_url is None:
        lines.append(f"Embedded PostgreSQL under {settings.data_dir / 'postgres'}.")
    lines.append("Store:")
    lines += _describe_store(_store_summary(db))

    if current is not None:
        lines.append(f"Reusing discovery run {current['run_id']} (as of {current['as_of']:%Y-%m-%d}): "
                     f"{current['customers']:,} customers, {current['archetypes']} archetypes. "
                     "Run `python app.py discover` to refresh it.")
    else:
        try:
            lines.append(_run_discovery(db, settings, timings))
        finally:
            folded()
    return "\n".join(lines)
