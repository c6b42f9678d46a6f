"""The ToolContext every tool runs with, and what to do with it after a discovery run."""
from __future__ import annotations

from typing import TYPE_CHECKING

from analytics.cache import Cache
from analytics.core import ToolContext, forget_current_run
from analytics.product_rollup import refresh_product_rollup
from analytics.warm import register_warm_hooks
from sql import Database

if TYPE_CHECKING:
    from settings import Settings


def build_context(settings: Settings, db: Database, cache: Cache | None) -> ToolContext:
    """The process's ToolContext. With a cache, the common answers are registered as warm hooks,
    so `ctx.cache.refresh()` after a run preloads them."""
    ctx = ToolContext(db=db, settings=settings, cache=cache)
    register_warm_hooks(ctx)
    return ctx


def after_discovery_run(ctx: ToolContext) -> int:
    """Call after a discovery run publishes: brings the product rollup up to date and sums it per
    segment / archetype of the new run, drops cached answers and precomputes common ones."""
    forget_current_run(ctx)
    refresh_product_rollup(ctx.db)  # the write side, before any answer is warmed from it
    return ctx.cache.refresh() if ctx.cache is not None else 0
