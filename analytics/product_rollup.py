"""The write side of analyze_products: folds the order lines into the product rollups of migration
008, stores the answers worth storing, and sums them per segment / archetype of the current run.

Called where the data changes: after an import (`app.after_import`), by the demo after it loads its
store, and after a discovery run (`analytics.context.after_discovery_run`). The tool only reads what
this module wrote (and says how current it is when orders arrived since).
"""
from __future__ import annotations

from datetime import timedelta

from analytics.periods import parse_period
from sql import query

# Periods whose all-customer answers refresh_product_rollup stores (by their bounds from the latest
# order, so any spelling of the same range finds them): the ones people ask about most, and the
# longest to scan. Others, and any period with a segment / archetype, are read from the order rollups.
STORED_PERIODS = ("last_30_days", "last_90_days", "last_12_months", "this_month", "last_month", "this_quarter",
                  "last_quarter", "this_year", "last_year", "q1", "q2", "q3", "q4")

_FACT_COLUMNS = ("row_type", "group_no", "group_key", "product_category", "revenue", "gross_sales", "returns",
                 "units", "orders", "customers", "repeat_customers", "groups")


def refresh_product_rollup(db, with_segments: bool = True) -> bool:
    """Fold the orders imported since the last refresh into the rollup and store the all-history
    answers again; True when anything changed. One refresher at a time; readers keep seeing the
    previous rollup until this commits. with_segments: also rebuild the sums per segment / archetype
    (refresh_segment_facts) when there is a current discovery run; until they are, segment questions
    scan the rollup."""
    changed = _refresh_rollup(db)
    # Also when the rollup was current: a new run or an earlier refresh without them leaves them behind.
    if with_segments:
        refresh_segment_facts(db)
    return changed


def vacuum_rollup(db) -> None:
    """VACUUM (ANALYZE) the rollup tables: marks the pages a fold wrote all-visible, so bought-together's
    anchor lookups stay index-only, and lets later folds reuse deleted rows. Not needed for correct
    answers (autovacuum gets there too); run it off the critical path."""
    with db.connection() as conn:
        conn.autocommit = True   # a pooled connection is idle here; it goes back to the pool as it came
        try:
            conn.execute(query("products.rollup_vacuum"))
        finally:
            conn.autocommit = False


def rollup_version(db) -> dict:
    """products.data_version: the orders' and products' current state and what the rollup was built from."""
    with db.cursor() as cur:
        cur.execute(query("products.data_version"))
        return cur.fetchone()


def orders_to_fold(db) -> int:
    """How many orders the next refresh folds in (all of them when the rollup was never built)."""
    version = rollup_version(db)
    with db.cursor() as cur:
        cur.execute(query("products.rollup_coverage"), {"after": version["rollup_order_id"] or 0})
        return cur.fetchone()["orders_since"]


def rollup_stale(version: dict) -> bool:
    """Whether orders or product categories changed since the rollup was built (data_version's row)."""
    return (version["rollup_order_id"] != version["last_order_id"]
            or version["rollup_products_version"] != version["products_version"])


def _refresh_rollup(db) -> bool:
    with db.cursor() as cur:
        cur.execute(query("products.tuning"))
        cur.execute(query("products.rollup_lock"))
        cur.execute(query("products.data_version"))
        version = cur.fetchone()
        if not rollup_stale(version):  # another process refreshed it while this one waited
            return False
        after = version["rollup_order_id"]
        folded_from = after or 0
        if after is None or after > version["last_order_id"]:  # never built, or orders were deleted
            cur.execute(query("products.rollup_clear"))
            after = 0
        if after < version["last_order_id"]:
            cur.execute(query("products.rollup_extend"), {"after": after, "upto": version["last_order_id"]})
        if after == 0 or version["rollup_products_version"] != version["products_version"]:
            # Their rows name categories: start them again from the order rollup.
            cur.execute(query("products.categories_clear"))
            cur.execute(query("products.customers_clear"))
            after = 0
        cur.execute(query("products.categories_extend"), {"after": after})
        if after == 0:
            cur.execute(query("products.pairs_clear"))
        cur.execute(query("products.pairs_extend"), {"after": after})
        for grain in ("customers_extend", "customers_extend_categories", "customers_extend_totals"):
            cur.execute(query(f"products.{grain}"), {"after": after})
        cur.execute(query("products.rollup_analyze"))  # fresh statistics, or the planner guesses at their sizes
        cur.execute(query("products.changed_from"), {"after": folded_from})
        changed_from = cur.fetchone()["changed_from"]
        periods = stored_period_bounds(version["latest_order_at"])
        cur.execute(query("products.facts_clear"), {
            "everything": after == 0, "changed_from": changed_from,
            "starts": [start for start, _ in periods], "ends": [end for _, end in periods]})
        cur.execute(query("products.facts_periods"))
        kept = {(row["group_by"], row["period_start"], row["period_end"]) for row in cur.fetchall()}
        everyone = {"everyone": True, "run_id": None, "segment": None, "archetype_id": None,
                    "category": None, "sort_by": "revenue", "limit": 2**62}
        facts = []
        for group_by in ("category", "product"):
            # Summed from the per-customer rows (guests included): a fraction of the orders' rows.
            cur.execute(query("products.summary_members"), {**everyone, "group_by": group_by})
            facts += _fact_rows(group_by, ("-infinity", "infinity"), cur.fetchall())
            # The standard periods by the same query a question would run on them: the stored answer is
            # that answer, whatever the period's distinct buyers and repeat buyers are.
            for start, end in periods:
                if (group_by, start, end) in kept:  # no new order in it: its stored answer holds
                    continue
                cur.execute(query("products.summary"), {**everyone, "everyone": False, "group_by": group_by,
                                                        "start": start, "end": end})
                facts += _fact_rows(group_by, (start, end), cur.fetchall())
        with cur.copy(query("products.facts_copy")) as copy:
            for row in facts:
                copy.write_row(row)
        cur.execute(query("products.facts_sold"))
        cur.execute(query("products.state_save"), {"last_order_id": version["last_order_id"],
                                                   "products_version": version["products_version"]})
    return True


def refresh_segment_facts(db) -> bool:
    """Sum the per-customer rollup per segment and archetype of the current discovery run
    (product_segment_facts) unless they were built from this run and this rollup already; True when
    rebuilt. Called after each rollup refresh and after a discovery run."""
    with db.cursor() as cur:
        cur.execute(query("runs.current"))
        run = cur.fetchone()
        if run is None:
            return False
        cur.execute(query("products.tuning"))
        cur.execute(query("products.rollup_lock"))
        cur.execute(query("products.segment_state"))
        state = cur.fetchone()
        if state["rollup_order_id"] is None or segment_facts_ready(state, run["run_id"]):
            return False
        cur.execute(query("products.segment_facts_clear"))
        cur.execute(query("products.segment_facts_build"), {"run_id": run["run_id"]})
        cur.execute(query("products.data_version"))
        for start, end in scope_period_bounds(cur.fetchone()["latest_order_at"]):
            cur.execute(query("products.segment_period_facts_build"),
                        {"run_id": run["run_id"], "start": start, "end": end})
        cur.execute(query("products.segment_state_save"), {"run_id": run["run_id"]})
    return True


def segment_facts_ready(state: dict, run_id: int) -> bool:
    """Whether product_segment_facts were built from run_id and the rollup as it is now (segment_state's row)."""
    return (state["run_id"] == run_id and state["last_order_id"] == state["rollup_order_id"]
            and state["products_version"] == state["rollup_products_version"])


def stored_period_bounds(latest) -> list[tuple]:
    """The distinct [start, end) timestamps of STORED_PERIODS measured from the latest order's time."""
    if latest is None:
        return []
    return list(dict.fromkeys(parse_period(phrase, latest).bounds() for phrase in STORED_PERIODS))


def scope_period_bounds(latest) -> list[tuple]:
    """The standard periods up to a quarter long, whose answers are also stored per segment / archetype
    (longer ones cost more to store for every scope than to scan for the one asked about)."""
    return [(start, end) for start, end in stored_period_bounds(latest) if end - start <= timedelta(days=92)]


def _fact_rows(group_by: str, bounds: tuple, rows: list[dict]) -> list[tuple]:
    """summary / summary_members rows as product_group_facts rows (facts_copy's column order)."""
    return [(group_by, *bounds, *(row[column] for column in _FACT_COLUMNS)) for row in rows]
