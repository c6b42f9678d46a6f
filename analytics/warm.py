"""The answers worth precomputing after each discovery run (the questions asked most)."""
from __future__ import annotations

import logging

from analytics.runs import current_run
from analytics.tools.registry import ToolContext, ToolError, run_tool
from sql import query

log = logging.getLogger(__name__)

WARM_ARCHETYPES = 20   # the largest ones; resolve.archetypes lists them by size

COMMON_CALLS: tuple[tuple[str, dict], ...] = (
    ("analyze_segments", {"mode": "overview"}),
    ("segment_info", {}),
    ("analyze_customers", {"sort_by": "churn_risk"}),
    ("analyze_customers", {"sort_by": "value"}),
    ("get_recommendations", {}),
    *(("analyze_behavior", {"focus": focus}) for focus in
      ("segment_moves", "declining", "one_time_buyers", "discount_dependency")),
    # Read from the product rollup, which after_discovery_run brings up to date before warming.
    ("analyze_products", {}),
    ("analyze_products", {"group_by": "product"}),
    # The common period questions (their all-customer answers are stored by the refresh; cached here).
    *(("analyze_products", {"period": period}) for period in ("last_quarter", "last_90_days", "this_year")),
)


def register_warm_hooks(ctx: ToolContext) -> None:
    if ctx.cache is None or ctx.extras.get("warm_hooks_registered"):
        return
    ctx.extras["warm_hooks_registered"] = True

    def warm_common_answers() -> None:
        calls = list(COMMON_CALLS)
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
