"""The answers worth precomputing after each discovery run (the questions asked most)."""
from __future__ import annotations

import logging

from analytics.core import current_run
from analytics.core import ToolContext, ToolError
from analytics.tools.registry import registry, run_tool
from sql import query

log = logging.getLogger(__name__)

WARM_ARCHETYPES = 20   # the largest ones; resolve.archetypes lists them by size


def common_calls() -> list[tuple[str, dict]]:
    """What each tool declares worth precomputing (`@tool(warm=...)`), in catalog order."""
    return [(t.name, dict(arguments)) for t in registry() for arguments in t.warm]


def register_warm_hooks(ctx: ToolContext) -> None:
    if ctx.cache is None or ctx.memo.get("warm_hooks_registered"):
        return
    ctx.memo["warm_hooks_registered"] = True

    def warm_common_answers() -> None:
        calls = common_calls()
        run = current_run(ctx)
        if run is not None:
            # Archetype cards also fill the per-archetype typical products that customer
            # recommendations reuse.
            with ctx.db.cursor() as cur:
                cur.execute(query("resolve.archetypes"), {"run_id": run.run_id})
                calls += [("segment_info", {"name": r["archetype_id"]}) for r in cur.fetchall()[:WARM_ARCHETYPES]]
        for name, args in calls:
            try:
                run_tool(ctx, name, args)
            except ToolError as exc:  # e.g. no run yet, or no earlier run to compare with
                log.info("not warming %s: %s", name, exc)

    ctx.cache.add_warm_hook(warm_common_answers)
