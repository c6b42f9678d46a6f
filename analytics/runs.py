"""Which discovery run a question reads: the current one, or an earlier one for change over time."""
from __future__ import annotations

import time
from datetime import datetime

from pydantic import BaseModel

from analytics.tools.registry import ToolContext, ToolError
from sql import query

NO_RUN_MESSAGE = "no discovery run yet — run `python app.py discover`"
# Which run is current is re-read at most this often per process: one database round trip less
# per answer. A run published by another process is seen within this interval (a publish in this
# process calls forget_current_run()).
RUN_CHECK_SECONDS = 1.0


class RunInfo(BaseModel):
    run_id: int
    as_of: datetime
    finished_at: datetime | None = None


def _one(ctx: ToolContext, name: str, params: dict | None = None) -> RunInfo | None:
    with ctx.db.cursor() as cur:
        cur.execute(query(name), params or {})
        row = cur.fetchone()
    return RunInfo(**row) if row else None


def current_run(ctx: ToolContext) -> RunInfo | None:
    """The published run every answer reads, or None before the first discovery."""
    now = time.monotonic()
    known = ctx.extras.get("_current_run")
    if known is not None and now - known[0] < RUN_CHECK_SECONDS:
        return known[1]
    run = _one(ctx, "runs.current")
    ctx.extras["_current_run"] = (now, run)
    return run


def forget_current_run(ctx: ToolContext) -> None:
    """Make the next current_run() read the database (after this process published a run)."""
    ctx.extras.pop("_current_run", None)


def require_current_run(ctx: ToolContext) -> RunInfo:
    """The current run, or the ToolError telling the user how to create one."""
    run = current_run(ctx)
    if run is None:
        raise ToolError(NO_RUN_MESSAGE)
    return run


def run_days_ago(ctx: ToolContext, days: int) -> RunInfo | None:
    """The newest published run at least `days` older than the current one (None if there is none)."""
    if days < 0:
        raise ToolError(f"days_ago must be zero or more, not {days}")
    return _one(ctx, "runs.days_ago", {"days": days})


def previous_run(ctx: ToolContext) -> RunInfo | None:
    """The published run just before the current one (the fallback when none is old enough)."""
    return _one(ctx, "runs.previous")
