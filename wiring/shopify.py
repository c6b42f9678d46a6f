"""Shopify wired from settings: the sync run by `python app.py sync shopify` and on a schedule in
`serve`, and the webhook endpoint with its background applier. Orders that arrive either way are
followed by what follows an import (wiring.orders)."""
from __future__ import annotations

import logging
from datetime import datetime
from typing import Callable

from starlette.routing import Route

from analytics.cache import Cache
from settings import Settings
from shopify.client import ShopifyClient
from shopify.sync import SyncSummary, sync_orders
from shopify.webhook import WebhookApplier, apply_pending, make_webhook_endpoint
from wiring.orders import fold_imported_orders

log = logging.getLogger("cib")


def orders_arrived(settings: Settings, db, cache: Cache | None, later: bool = False) -> None:
    """After a sync or webhook stored orders: pseudonyms and the product rollup (later: the rollup
    only; the next full refresh stores the rest), then cached answers are dropped, so a customer's
    card shows the new order now rather than when its cache entry expires."""
    from analytics.pseudonyms import assign_public_ids

    # Cards read orders live: they can show the new orders as soon as new customers have their ids,
    # before the rollup fold; the answers that read the rollup are dropped again once it is folded.
    assign_public_ids(db, settings)
    if cache is not None:
        cache.invalidate_all()
    fold_imported_orders(db, settings, later=later)
    if cache is not None:
        cache.invalidate_all()


def sync_shopify(settings: Settings, db, *, since: datetime | None = None,
                 on_page: Callable[[int, SyncSummary], None] | None = None,
                 cache: Cache | None = None) -> SyncSummary:
    """One sync of the configured shop, then orders_arrived when anything changed. Raises
    ShopifyConfigError when SHOPIFY_SHOP / SHOPIFY_ACCESS_TOKEN are missing and ShopifyAPIError
    when Shopify refuses."""
    client = ShopifyClient(settings)
    try:
        return sync_orders(db, client, settings.shopify_shop, since=since,
                           overlap_seconds=settings.shopify_overlap_seconds, on_page=on_page,
                           after_load=lambda: orders_arrived(settings, db, cache))
    finally:
        client.close()


class ShopifyIntegration:
    """What `serve` runs for Shopify: POST /shopify/webhook (with SHOPIFY_WEBHOOK_SECRET), the applier
    of stored deliveries, and the sync every SHOPIFY_SYNC_MINUTES (with SHOPIFY_SHOP and the token)."""

    def __init__(self, settings: Settings, db, cache: Cache | None = None) -> None:
        self.settings, self.db, self.cache = settings, db, cache
        self.applier = WebhookApplier(db, after_load=lambda: orders_arrived(settings, db, cache, later=True))
        self._stop_scheduler: Callable[[], None] | None = None

    @staticmethod
    def wanted(settings: Settings) -> bool:
        return settings.shopify_configured or settings.shopify_webhook_secret is not None

    def routes(self) -> list[Route]:
        secret = self.settings.shopify_webhook_secret
        endpoint = make_webhook_endpoint(self.db, secret.get_secret_value() if secret else None, self.applier.wake)
        return [Route("/shopify/webhook", endpoint, methods=["POST"])]

    def sync_now(self) -> None:
        """The scheduled job: deliveries still pending, then the incremental sync (it reconciles
        whatever a webhook missed). Never raises: the next run tries again."""
        try:
            apply_pending(self.db, self.applier.after_load)
            summary = sync_shopify(self.settings, self.db, cache=self.cache)
            if summary.busy:
                log.info("Shopify sync skipped: another instance is syncing")
                return
            log.info("Shopify sync: %d fetched, %d inserted, %d updated, %d returns in %.1f s",
                     summary.orders_fetched, summary.inserted, summary.updated, summary.returns, summary.seconds)
        except Exception:  # noqa: BLE001 - the server keeps serving
            log.exception("the Shopify sync failed")

    def start(self, with_scheduler: bool = True) -> None:
        self.applier.start()
        if with_scheduler and self.settings.shopify_configured:
            from apscheduler.schedulers.background import BackgroundScheduler

            scheduler = BackgroundScheduler(daemon=True)
            scheduler.add_job(self.sync_now, "interval", minutes=self.settings.shopify_sync_minutes,
                              id="shopify-sync", coalesce=True, max_instances=1,
                              next_run_time=datetime.now().astimezone())
            scheduler.start()
            self._stop_scheduler = lambda: scheduler.shutdown(wait=False)

    def stop(self) -> None:
        if self._stop_scheduler is not None:
            self._stop_scheduler()
        self.applier.stop()
