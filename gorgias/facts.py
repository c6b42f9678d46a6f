"""The customer facts a note is built from: the shared enrichment (analytics.enrichment) plus the
store's order numbers; if the enrichment fails, what the order history alone gives, so a note is
never lost."""
from __future__ import annotations

import dataclasses
import logging
from contextlib import contextmanager
from datetime import date, datetime
from typing import Iterator

from psycopg.rows import dict_row
from pydantic import BaseModel, Field

from sql import query

log = logging.getLogger(__name__)


class RecentOrder(BaseModel):
    order_id: str                   # the store's order number, as the agent knows it
    ordered_on: date
    kind: str = "sale"
    total: float
    items: int
    categories: list[str] = Field(default_factory=list)


class CustomerFacts(BaseModel):
    customer_id: int
    public_id: str | None = None
    name: str | None = None
    email: str | None = None
    value_tier: str | None = None
    lifetime_value: float = 0.0
    orders: int = 0
    average_order: float | None = None
    first_order_on: date | None = None
    last_order_on: date | None = None
    days_since_last_order: int | None = None
    churn_probability: float | None = None
    risk_level: str | None = None
    churn_reasons: list[str] = Field(default_factory=list)
    segments: dict[str, str] = Field(default_factory=dict)     # axis -> dominant segment
    archetype: str | None = None
    open_risks: list[str] = Field(default_factory=list)
    discount_percent: float | None = None   # the compensation tier's discount, when known
    recent_orders: list[RecentOrder] = Field(default_factory=list)
    source: str = "orders"          # enrichment | orders

    @property
    def first_name(self) -> str | None:
        return self.name.split()[0].title() if self.name and self.name.strip() else None


def customer_facts(ctx, customer_id: int, recent: list[RecentOrder] | None = None) -> CustomerFacts:
    """Facts from the shared enrichment, with the store's order numbers added (the agent searches
    by them); from the order history alone if the enrichment cannot answer. `recent`: the orders
    when the caller already read them for a batch (recent_orders_many)."""
    if recent is None:
        recent = _recent_orders(ctx.db, customer_id)
    try:
        from analytics.enrichment import customer_context

        context = customer_context(ctx, customer_id, include_pii=True)
    except Exception as exc:  # never lose the note over the enrichment: the orders still answer
        log.warning("shared enrichment failed for customer %s (%s); using the order history", customer_id, exc)
        return _from_orders(ctx.db, customer_id, recent)
    return from_context(context, customer_id, recent)


def customer_facts_many(ctx, customer_ids: list[int],
                        recent: dict[int, list[RecentOrder]] | None = None) -> dict[int, CustomerFacts]:
    """customer_facts for a worker's batch: the enrichment's reads for every customer in one statement
    (gorgias.customers_facts), mapped as analytics.enrichment.customer_context maps them, so each
    note carries the same facts. `recent`: recent_orders_many's answer, read here when not given.
    If the batch read fails, each customer goes through customer_facts (and its fallback) alone."""
    from analytics.enrichment import CustomerPII
    from analytics.core import current_run

    wanted = list(dict.fromkeys(customer_ids))
    if not wanted:
        return {}
    if recent is None:
        recent = recent_orders_many(ctx.db, wanted)
    try:
        run = current_run(ctx)
        with ctx.db.cursor() as cur:
            cur.execute(query("gorgias.customers_facts"), {
                "customer_ids": wanted, "run_id": run.run_id if run else None, "as_of": run.as_of if run else None})
            rows = {r["customer_id"]: r for r in cur.fetchall()}
    except Exception as exc:  # one by one instead: each still gets the enrichment or the orders' facts
        log.warning("batch enrichment of %d customer(s) failed (%s); enriching one by one", len(wanted), exc)
        return {c: customer_facts(ctx, c, recent.get(c, [])) for c in wanted}
    facts: dict[int, CustomerFacts] = {}
    for customer_id in wanted:
        row = rows.get(customer_id)
        if row is None:   # gone since it was resolved: the one-customer path says why, or falls back
            facts[customer_id] = customer_facts(ctx, customer_id, recent.get(customer_id, []))
            continue
        context = _context_from_row(ctx.settings, run, row)
        context.pii = CustomerPII(store_customer_id=row["store_customer_id"], name=row["name"],
                                  email=row["email"], phone=row["phone"])
        facts[customer_id] = from_context(context, customer_id, recent.get(customer_id, []))
    return facts


def _context_from_row(settings, run, row: dict):
    """analytics.enrichment's mapping for one row of gorgias.customers_facts, whose order figures
    carry a `stats_` prefix (the enrichment's recent orders are left out: the note lists the
    store's own, with their numbers)."""
    from analytics.enrichment import context_from_rows

    stats = {"orders": row["stats_orders"], "revenue": row["stats_revenue"],
             "first_order_at": row["stats_first_order_at"], "last_order_at": row["stats_last_order_at"],
             "discounted_orders": row["discounted_orders"], "last_return_at": row["last_return_at"],
             "store_latest_order_at": row["store_latest_order_at"],
             "orders_since_run": row["orders_since_run"], "revenue_since_run": row["revenue_since_run"],
             "last_order_since_run": row["last_order_since_run"]}
    return context_from_rows(settings, run, row, stats, recent=[])


class _HeldConnection:
    """A `Database` stand-in whose cursors all run on one connection in autocommit: the enrichment's
    few reads then cost no pool checkout and no COMMIT round trip each."""

    def __init__(self, conn, url: str) -> None:
        self.conn, self.url = conn, url

    @contextmanager
    def cursor(self):
        with self.conn.cursor(row_factory=dict_row) as cur:
            yield cur

    @contextmanager
    def connection(self):
        yield self.conn


@contextmanager
def one_connection(ctx) -> Iterator:
    """`ctx` with its database narrowed to one pooled connection for the block (read-only use)."""
    pool = getattr(ctx.db, "pool", None)
    if pool is None:
        yield ctx
        return
    with pool.connection() as conn:
        conn.autocommit = True      # reads only: each statement is its own snapshot, as before
        try:
            yield dataclasses.replace(ctx, db=_HeldConnection(conn, ctx.db.url))
        finally:
            if not conn.closed:
                conn.autocommit = False   # the pool hands it out again in its usual mode


def from_context(c, customer_id: int, recent: list[RecentOrder]) -> CustomerFacts:
    """Map analytics.enrichment.CustomerContext onto the note's facts."""
    return CustomerFacts(
        customer_id=customer_id, public_id=c.public_id,
        name=c.pii.name if c.pii else None, email=c.pii.email if c.pii else None,
        value_tier=c.value_tier, lifetime_value=c.lifetime_value, orders=c.orders,
        average_order=c.average_order_value,
        first_order_on=_day(c.first_order_at), last_order_on=_day(c.last_order_at),
        days_since_last_order=c.days_since_last_order,
        churn_probability=c.churn_probability, risk_level=c.risk_level, churn_reasons=list(c.churn_reasons),
        segments={s.axis: s.segment for s in c.dominant_segments}, archetype=c.archetype_name,
        open_risks=[r.detail for r in c.open_risks],
        discount_percent=c.compensation.percent,
        recent_orders=recent, source="enrichment")


def _float(value) -> float | None:
    return None if value is None else float(value)


def _day(value) -> date | None:
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _recent_orders(db, customer_id: int, limit: int = 5) -> list[RecentOrder]:
    with db.cursor() as cur:
        cur.execute(query("gorgias.customer_recent_orders"), {"customer_id": customer_id, "limit": limit})
        rows = cur.fetchall()
    return [_recent(r) for r in rows]


def recent_orders_many(db, customer_ids: list[int], limit: int = 5) -> dict[int, list[RecentOrder]]:
    """_recent_orders for several customers in one statement; every asked id gets a list."""
    found: dict[int, list[RecentOrder]] = {customer_id: [] for customer_id in customer_ids}
    if not customer_ids:
        return found
    with db.cursor() as cur:
        cur.execute(query("gorgias.customers_recent_orders"), {"customer_ids": list(found), "limit": limit})
        for r in cur.fetchall():
            found[r["customer_id"]].append(_recent(r))
    return found


def _recent(r: dict) -> RecentOrder:
    return RecentOrder(order_id=r["store_order_id"], ordered_on=r["ordered_at"].date(), kind=r["kind"],
                       total=float(r["total"]), items=int(r["items"]), categories=list(r["categories"]))


def _from_orders(db, customer_id: int, recent: list[RecentOrder]) -> CustomerFacts:
    with db.cursor() as cur:
        cur.execute(query("gorgias.customer_orders_summary"), {"customer_id": customer_id})
        summary = cur.fetchone()
        cur.execute(query("gorgias.customer_current_profile"), {"customer_id": customer_id})
        profile = cur.fetchone() or {}
    last = summary["last_order_at"]
    latest_in_store = _latest_order_day(db)
    orders = summary["orders"] or 0
    ltv = float(summary["lifetime_value"] or 0)
    return CustomerFacts(
        customer_id=customer_id, public_id=summary["public_id"], name=summary["name"], email=summary["email"],
        value_tier=profile.get("value_tier"), lifetime_value=ltv, orders=orders,
        average_order=round(ltv / orders, 2) if orders else None,
        first_order_on=_day(summary["first_order_at"]), last_order_on=_day(last),
        # Days are counted to the store's latest order (historic exports have no "today").
        days_since_last_order=(latest_in_store - last.date()).days if last and latest_in_store else None,
        churn_probability=profile.get("churn_probability"), risk_level=profile.get("risk_level"),
        churn_reasons=list(profile.get("churn_reasons") or []),
        segments=dict(profile.get("dominant_segments") or {}), archetype=profile.get("archetype_name"),
        recent_orders=recent, source="orders")


def _latest_order_day(db) -> date | None:
    with db.cursor() as cur:
        cur.execute(query("gorgias.latest_order"))
        row = cur.fetchone()
    return row["latest"].date() if row and row["latest"] else None
