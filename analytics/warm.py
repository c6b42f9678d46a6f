"""The answers worth precomputing after each discovery run (the questions asked most)."""
from __future__ import annotations

import logging

from analytics.tools.registry import ToolContext, ToolError, run_tool

log = logging.getLogger(__name__)

COMMON_CALLS: tuple[tuple[str, dict], ...] = (
    ("analyze_segments", {"mode": "overview"}),
    ("segment_info", {}),
    ("analyze_customers", {"sort_by": "churn_risk"}),
    ("analyze_customers", {"sort_by": "value"}),
    ("get_recommendations", {}),
    *(("analyze_behavior", {"focus": focus}) for focus in
      ("segment_moves", "declining", "one_time_buyers", "discount_dependency")),
)


def register_warm_hooks(ctx: ToolContext) -> None:
    if ctx.cache is None or ctx.extras.get("warm_hooks_registered"):
        return
    ctx.extras["warm_hooks_registered"] = True

    def warm_common_answers() -> None:
        for name, args in COMMON_CALLS:
            try:
                run_tool(ctx, name, args)
            except ToolError as exc:  # e.g. no run yet: nothing to warm
                log.info("not warming %s: %s", name, exc)

    ctx.cache.add_warm_hook(warm_common_answers)
