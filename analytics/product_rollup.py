"""The write side of analyze_products: folds the order lines into the product rollups of migration
008, derives from them what makes the all-history questions fast, stores the answers worth storing,
and sums them per segment / archetype of the current run.

Called where the data changes: after an import (`app.after_import`), by the demo after it loads its
store, and after a discovery run (`analytics.context.after_discovery_run`). The tool only reads what
this module wrote (and says how current it is when orders arrived since).
"""
from __future__ import annotations

from datetime import timedelta

from psycopg import sql

from analytics.periods import parse_period
from sql import query

# Periods whose all-customer answers refresh_product_rollup stores (by their bounds from the latest
# order, so any spelling of the same range finds them): the ones people ask about most, and the
# longest to scan. Others, and any period with a segment / archetype, are read from the order rollups.
STORED_PERIODS = ("last_30_days", "last_90_days", "last_12_months", "this_month", "last_month", "this_quarter",
                  "last_quarter", "this_year", "last_year", "q1", "q2", "q3", "q4")

_FACT_COLUMNS = ("row_type", "group_no", "group_key", "product_category", "revenue", "gross_sales", "returns",
                 "units", "orders", "customers", "repeat_customers", "groups")
_ORDER_GRAINS = ["product_order_rollup", "category_order_rollup"]


def refresh_product_rollup(db, later: bool = False) -> bool:
    """Bring the product statistics up to date; True when orders or categories changed since the last
    refresh. Each step in its own transaction, each a no-op when already current: the order grains
    (fold_orders), what is derived from them (derive_from_orders), the standard periods' answers
    (store_period_answers) and the sums per segment / archetype of the current run
    (refresh_segment_facts). Every question can be answered after the first step (the others store
    answers that would otherwise be read from the order grains), so a caller in a hurry (the demo)
    passes later=True and calls store_later_answers afterwards."""
    changed = fold_orders(db)
    if not later:
        store_later_answers(db)
    return changed


def store_later_answers(db) -> bool:
    """What refresh_product_rollup(later=True) left: the derived tables, the standard periods' answers
    and the sums per segment / archetype (each a no-op when already stored), then a VACUUM of the
    rollup when anything was stored; True when anything was."""
    stored = derive_from_orders(db)
    stored = store_period_answers(db) or stored
    stored = refresh_segment_facts(db) or stored
    if stored:
        vacuum_rollup(db)
    return stored


def vacuum_rollup(db) -> None:
    """VACUUM (ANALYZE) the rollup tables: marks the pages a fold wrote all-visible, so bought-together's
    anchor lookups stay index-only, and lets later folds reuse deleted rows. Not needed for correct
    answers (autovacuum gets there too, a minute or so later), so it ends a whole refresh and the demo's
    background step, not the fold a first answer waits for."""
    with db.connection() as conn:
        conn.autocommit = True   # a pooled connection is idle here; it goes back to the pool as it came
        try:
            conn.execute(query("product_rollup.rollup_vacuum"))
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


def derived_current(version: dict) -> bool:
    """Whether the derived tables (per-customer rows, stored pairs, all-history answers) hold what the
    order grains hold (a data_version or segment_state row)."""
    return version["rollup_order_id"] is not None and version["derived_order_id"] == version["rollup_order_id"]


def _lock_rollup(cur) -> dict:
    """Start a write of the rollup: the fold's tuning, the lock that makes writers take turns (readers
    never wait), and the data_version row as it is once the lock is held."""
    cur.execute(query("product_rollup.tuning"))
    cur.execute(query("product_rollup.rollup_lock"))
    cur.execute(query("products.data_version"))
    return cur.fetchone()


def fold_orders(db) -> bool:
    """Fold the orders imported since the last fold into the order grains (per order and product, per
    order and category), and away with the stored period answers this makes wrong; True when anything
    changed. One folder at a time; readers keep seeing the previous rollup until this commits. A fold
    from nothing (never built, orders deleted) builds the tables without their indexes and indexes them
    after; it, and recategorised products, leave the derived tables to be built from nothing."""
    with db.cursor() as cur:
        version = _lock_rollup(cur)
        if not rollup_stale(version):  # another process refreshed it while this one waited
            return False
        after = version["rollup_order_id"]
        folded_from = after or 0
        # From nothing (never built, or orders were deleted): a build, into empty tables without indexes.
        build = after is None or after > version["last_order_id"]
        recategorised = not build and version["rollup_products_version"] != version["products_version"]
        rebuilt_indexes = []
        if build:
            after = 0
            cur.execute(query("product_rollup.build_start"))
            rebuilt_indexes = _drop_indexes(cur, _ORDER_GRAINS)
        if after < version["last_order_id"]:
            cur.execute(query("product_rollup.rollup_extend"), {"after": after, "upto": version["last_order_id"]})
        if build:  # indexed and counted now: the category rows are folded from it in its key order
            _create_indexes(cur, rebuilt_indexes, "product_order_rollup")
            cur.execute(query("product_rollup.rollup_analyze_orders"))
        if recategorised:  # their rows name categories: start them again from the order rollup
            cur.execute(query("product_rollup.categories_clear"))
            after = 0
        cur.execute(query("product_rollup.categories_extend"), {"after": after})
        if build:
            _create_indexes(cur, rebuilt_indexes, "category_order_rollup")
        # Fresh statistics, or the planner guesses at their sizes.
        cur.execute(query("product_rollup.rollup_analyze_categories" if build else "product_rollup.rollup_analyze"))
        _clear_period_facts(cur, version, everything=after == 0, folded_from=folded_from)
        cur.execute(query("product_rollup.state_save"), {"last_order_id": version["last_order_id"],
                                                         "products_version": version["products_version"],
                                                         "derive_again": build or recategorised})
    return True


def derive_from_orders(db) -> bool:
    """Bring the derived tables up to the order grains: the per-customer rows (segments over all
    history), the stored pairs of each category (bought-together) and the all-history answers for
    everyone; True when anything changed. Extended with the orders folded since, or built from
    nothing after a build of the order grains or recategorised products."""
    with db.cursor() as cur:
        version = _lock_rollup(cur)
        if version["rollup_order_id"] is None or derived_current(version):
            return False
        after = version["derived_order_id"]
        build = after is None
        if build:
            after = 0
            cur.execute(query("product_rollup.derive_start"))
            rebuilt_indexes = _drop_indexes(cur, ["product_customer_rollup"])
        cur.execute(query("product_rollup.pairs_extend"), {"after": after})
        if build:
            cur.execute(query("product_rollup.customers_build"))
            _create_indexes(cur, rebuilt_indexes, "product_customer_rollup")
        else:
            for grain in ("customers_extend", "customers_extend_categories", "customers_extend_totals"):
                cur.execute(query(f"product_rollup.{grain}"), {"after": after})
        cur.execute(query("product_rollup.rollup_analyze_customers"))
        _store_all_history_facts(cur)
        cur.execute(query("product_rollup.derived_state_save"), {"last_order_id": version["rollup_order_id"]})
    return True


def _drop_indexes(cur, tables: list[str]) -> list[dict]:
    """Drop the indexes and keys of the tables a build fills; returns their definitions for _create_indexes."""
    cur.execute(query("product_rollup.build_indexes"), {"tables": tables})
    found = cur.fetchall()
    for index in found:
        if index["constraint_name"]:
            cur.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(index["table_name"]), sql.Identifier(index["constraint_name"])))
        else:
            cur.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index["index_name"])))
    return found


def _create_indexes(cur, indexes: list[dict], table: str) -> None:
    """Create again the indexes and keys of one table that _drop_indexes dropped."""
    for index in (index for index in indexes if index["table_name"] == table):
        if index["constraint_name"]:
            cur.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
                sql.Identifier(index["table_name"]), sql.Identifier(index["constraint_name"]),
                sql.SQL(index["constraint_def"])))
        else:
            cur.execute(sql.SQL(index["index_def"]))


def _clear_period_facts(cur, version: dict, everything: bool, folded_from: int) -> None:
    """Away with the stored period answers this fold makes wrong: those holding a new order, no longer
    standard, or all of them (everything: a rebuild or recategorised products). store_period_answers
    stores them again."""
    cur.execute(query("product_rollup.changed_from"), {"after": folded_from})
    changed_from = cur.fetchone()["changed_from"]
    periods = stored_period_bounds(version["latest_order_at"])
    cur.execute(query("product_rollup.facts_clear"), {
        "everything": everything, "changed_from": changed_from,
        "starts": [start for start, _ in periods], "ends": [end for _, end in periods]})


def _store_all_history_facts(cur) -> None:
    """The all-history answers for everyone (product_group_facts), stored again from the per-customer rows."""
    cur.execute(query("product_rollup.history_facts_clear"))
    everyone = {"everyone": True, "run_id": None, "segment": None, "archetype_id": None,
                "category": None, "sort_by": "revenue", "limit": 2**62}
    facts = []
    for group_by in ("category", "product"):
        # Summed from the per-customer rows (guests included): a fraction of the orders' rows.
        cur.execute(query("products.summary_members"), {**everyone, "group_by": group_by})
        facts += _fact_rows(group_by, ("-infinity", "infinity"), cur.fetchall())
    _copy_facts(cur, facts)
    cur.execute(query("product_rollup.facts_sold"))


def store_period_answers(db) -> bool:
    """Store the answers for everyone over the standard periods (STORED_PERIODS) that the current rollup
    lacks; True when any were stored. Each is the answer of the query a question would run on it
    (products.summary), whatever the period's distinct buyers and repeat buyers are; periods without
    new orders keep theirs. Nothing while the rollup is behind the orders (the next fold clears what it
    makes wrong, and this runs after it)."""
    with db.cursor() as cur:
        version = _lock_rollup(cur)
        if version["rollup_order_id"] is None or rollup_stale(version):
            return False
        cur.execute(query("product_rollup.facts_periods"))
        kept = {(row["group_by"], row["period_start"], row["period_end"]) for row in cur.fetchall()}
        everyone = {"everyone": False, "run_id": None, "segment": None, "archetype_id": None,
                    "category": None, "sort_by": "revenue", "limit": 2**62}
        facts = []
        for group_by in ("category", "product"):
            for start, end in stored_period_bounds(version["latest_order_at"]):
                if (group_by, start, end) in kept:
                    continue
                cur.execute(query("products.summary"), {**everyone, "group_by": group_by, "start": start, "end": end})
                facts += _fact_rows(group_by, (start, end), cur.fetchall())
        _copy_facts(cur, facts)
    return bool(facts)


def _copy_facts(cur, facts: list[tuple]) -> None:
    with cur.copy(query("product_rollup.facts_copy")) as copy:
        for row in facts:
            copy.write_row(row)


def refresh_segment_facts(db) -> bool:
    """Sum the per-customer rollup per segment and archetype of the current discovery run
    (product_segment_facts) unless they were built from this run and this rollup already; True when
    rebuilt. Called after each rollup refresh and after a discovery run."""
    with db.cursor() as cur:
        cur.execute(query("runs.current"))
        run = cur.fetchone()
        if run is None:
            return False
        cur.execute(query("product_rollup.tuning"))
        cur.execute(query("product_rollup.rollup_lock"))
        cur.execute(query("products.segment_state"))
        state = cur.fetchone()
        # They are summed from the per-customer rows: not before those hold what the order grains hold.
        if not derived_current(state) or segment_facts_ready(state, run["run_id"]):
            return False
        cur.execute(query("product_rollup.segment_facts_clear"))
        cur.execute(query("product_rollup.segment_facts_build"), {"run_id": run["run_id"]})
        cur.execute(query("products.data_version"))
        for start, end in scope_period_bounds(cur.fetchone()["latest_order_at"]):
            cur.execute(query("product_rollup.segment_period_facts_build"),
                        {"run_id": run["run_id"], "start": start, "end": end})
        cur.execute(query("product_rollup.segment_state_save"), {"run_id": run["run_id"]})
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
