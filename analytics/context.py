"""Builds the ToolContext every tool runs with: one database pool, one cache, the settings."""
from __future__ import annotations

from analytics.cache import Cache
from analytics.tools.registry import ToolContext


def build_context(settings, db, cache: Cache | None = None) -> ToolContext:
    """The process's ToolContext; the cache (Redis or in-process) comes from settings unless given.
    Common answers are registered as warm hooks, so `ctx.cache.refresh()` after a run preloads them."""
    ctx = ToolContext(db=db, settings=settings, cache=cache or Cache.from_settings(settings))
    from analytics.warm import register_warm_hooks

    register_warm_hooks(ctx)
    return ctx


def after_discovery_run(ctx: ToolContext) -> int:
    """Call after a discovery run publishes: brings the product rollup up to date and sums it per
    segment / archetype of the new run, drops cached answers and precomputes common ones."""
    from analytics.product_rollup import refresh_product_rollup
    from analytics.runs import forget_current_run

    forget_current_run(ctx)
    refresh_product_rollup(ctx.db)  # the write side, before any answer is warmed from it
    return ctx.cache.refresh() if ctx.cache is not None else 0
