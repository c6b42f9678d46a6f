"""The incremental sync: pages of orders updated since the stored mark (less a small overlap), mapped
to canonical lines and loaded a batch of pages at a time through the importer's staging path with
changed orders replaced, then the mark moved to the batch's newest update. A batch is one
transaction, so an interrupted sync resumes after the last one stored; a second sync of unchanged
orders writes nothing."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta, timezone
from typing import Callable

import pandas as pd
from psycopg.types.json import Jsonb
from pydantic import BaseModel

from analytics.router.safety import scrub
from discovery.importer import ImportFailed, ImportSummary, import_frame
from observability import metrics
from shopify.client import ShopifyClient
from shopify.mapping import MappingError, canonical_rows, from_graphql
from sql import query

log = logging.getLogger(__name__)

LOAD_BATCH_ORDERS = 1000   # orders loaded per import transaction (and per move of the mark)


class SyncSummary(BaseModel):
    shop: str
    since: str | None = None              # what was asked for: updated_at >= since (None: everything)
    pages: int = 0
    orders_fetched: int = 0
    orders_skipped: int = 0               # unreadable orders (named in notes); their neighbours load
    inserted: int = 0                     # new sale orders
    updated: int = 0                      # stored orders rewritten because Shopify's changed
    returns: int = 0                      # new return orders (refunds, cancellations)
    rows_rejected: int = 0                # lines the importer refused (with their whole order)
    updated_through: str | None = None    # the mark after this sync
    throttled: int = 0
    waited_seconds: float = 0.0
    seconds: float = 0.0
    busy: bool = False                    # another sync held the lock: nothing was done
    notes: list[str] = []

    def describe(self) -> str:
        if self.busy:
            return f"Another sync of {self.shop} is running; nothing done."
        lines = [(f"Synced {self.shop} in {self.seconds:.1f} s "
                  f"({'orders updated since ' + self.since if self.since else 'all orders'})"),
                 f"  orders fetched  {self.orders_fetched:>8,}   in {self.pages:,} page(s)",
                 f"  inserted        {self.inserted:>8,}",
                 f"  updated         {self.updated:>8,}",
                 f"  returns         {self.returns:>8,}   (refunds and cancellations)",
                 f"  skipped         {self.orders_skipped + self.rows_rejected:>8,}"]
        if self.throttled:
            lines.append(f"  throttled {self.throttled:,} time(s), waited {self.waited_seconds:.1f} s")
        if self.updated_through:
            lines.append(f"  up to date through {self.updated_through}")
        lines += [f"  note: {note}" for note in self.notes[:20]]
        return "\n".join(lines)


def load_orders(db, orders: list[dict], source: str) -> tuple[ImportSummary | None, list[str]]:
    """Canonical lines of already-mapped rows into the store (changed orders replaced); returns the
    ImportSummary (None when there was nothing to load) and notes on rejected rows."""
    if not orders:
        return None, []
    summary = import_frame(db, pd.DataFrame(orders), source, skip_bad_rows=True, replace_changed=True)
    return summary, [f"{summary.rows_rejected:,} line(s) refused by the importer"] if summary.rows_rejected else []


def last_mark(db, shop: str) -> datetime | None:
    with db.cursor() as cur:
        cur.execute(query("shopify.state"), {"shop": shop})
        row = cur.fetchone()
    return row["updated_through"] if row else None


def sync_orders(db, client: ShopifyClient, shop: str, *, since: datetime | None = None, overlap_seconds: int = 300,
                on_page: Callable[[int, SyncSummary], None] | None = None,
                after_load: Callable[[], None] | None = None) -> SyncSummary:
    """Fetch and store the orders updated since `since` (default: the stored mark less
    `overlap_seconds`, or everything on a first sync). `after_load` runs once when anything was
    stored (the composition root passes the pseudonym and rollup refresh). When another sync holds
    the lock, returns at once with `busy` set."""
    with db.connection() as conn, conn.transaction():
        if not conn.execute(query("shopify.try_lock")).fetchone()[0]:
            return SyncSummary(shop=shop, busy=True)
        return _sync_locked(db, client, shop, since, overlap_seconds, on_page, after_load)


def _sync_locked(db, client: ShopifyClient, shop: str, since: datetime | None, overlap_seconds: int,
                 on_page: Callable[[int, SyncSummary], None] | None,
                 after_load: Callable[[], None] | None) -> SyncSummary:
    started = time.perf_counter()
    if since is None:
        mark = last_mark(db, shop)
        since = mark - timedelta(seconds=overlap_seconds) if mark is not None else None
    since_text = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ") if since else None
    summary = SyncSummary(shop=shop, since=since_text)
    batch: list[dict] = []
    batch_orders, newest = 0, None

    def flush() -> bool:
        """Load the buffered pages in one import, then move the mark; False when the database refused."""
        nonlocal batch, batch_orders, newest
        try:
            loaded, notes = load_orders(db, batch, f"shopify:{shop}")
        except ImportFailed as exc:  # the database refused the batch: report it, keep the mark before it
            summary.notes.append(f"orders up to page {summary.pages} not stored: {exc}")
            log.error("Shopify orders up to page %d not stored: %s", summary.pages, scrub(str(exc)))
            return False
        summary.notes += notes
        if loaded is not None:
            summary.returns += loaded.new_return_orders
            summary.inserted += loaded.new_orders - loaded.new_return_orders
            summary.updated += loaded.changed_orders
            summary.rows_rejected += loaded.rows_rejected
        if newest is not None:
            with db.cursor() as cur:
                cur.execute(query("shopify.advance_mark"), {"shop": shop, "updated_through": newest})
        batch, batch_orders, newest = [], 0, None
        return True

    stored = True
    try:
        for nodes in client.order_pages(since_text):
            summary.pages += 1
            for node in nodes:
                summary.orders_fetched += 1
                try:
                    order = from_graphql(node)
                    batch += canonical_rows(order)
                except (MappingError, AttributeError, TypeError, KeyError) as exc:
                    summary.orders_skipped += 1
                    summary.notes.append(f"skipped {_order_name(node)}: {exc}")
                    log.warning("Shopify order skipped: %s", exc)
                    continue
                batch_orders += 1
                if order.updated_at is not None and (newest is None or order.updated_at > newest):
                    newest = order.updated_at
            # Pages are loaded a few at a time: an import has a fixed cost that a page of 100 orders
            # would pay 10 times over.
            if batch_orders >= LOAD_BATCH_ORDERS and not (stored := flush()):
                break
            if on_page is not None:
                on_page(summary.pages, summary)
        if stored and (batch or newest is not None):
            flush()
    finally:
        # Also when Shopify failed half-way: what was stored gets its pseudonyms and rollup.
        if after_load is not None and (summary.inserted or summary.updated or summary.returns):
            after_load()
    for outcome, orders in (("inserted", summary.inserted), ("updated", summary.updated),
                            ("returns", summary.returns), ("skipped", summary.orders_skipped),
                            ("unchanged", summary.orders_fetched - summary.orders_skipped - summary.inserted
                             - summary.updated)):
        metrics.SHOPIFY_SYNC_ORDERS.labels(outcome).inc(max(orders, 0))
    mark = last_mark(db, shop)
    summary.updated_through = mark.isoformat() if mark else None
    summary.throttled = client.throttle.throttled
    summary.waited_seconds = round(client.throttle.waited_seconds, 3)
    summary.seconds = round(time.perf_counter() - started, 3)
    with db.cursor() as cur:
        cur.execute(query("shopify.finish"), {"shop": shop, "summary": Jsonb(summary.model_dump(mode="json"))})
    return summary


def _order_name(node: object) -> str:
    if isinstance(node, dict):
        return str(node.get("name") or node.get("id") or "an order")
    return "an order"
