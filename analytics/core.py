"""The types every analytics module shares: what a tool runs with (ToolContext), what it takes
(ToolInput and the field vocabulary) and returns (ToolResult), the error a user can fix (ToolError),
and which discovery run a question reads. Imports nothing else of `analytics`, so any module of
the package can import it without an import circle."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, field_validator

from sql import Database, query

if TYPE_CHECKING:  # typing only: settings are built by the composition root and handed down
    from settings import Settings

T = TypeVar("T")


class ToolError(Exception):
    """A problem the user can fix (unknown customer, bad argument); the message is shown as is."""


class ToolResult(BaseModel):
    """Base of every tool's typed result. `summary` is one or two plain sentences with the key
    figures, free of personal data; renderers build tables and charts from the typed fields."""

    model_config = ConfigDict(extra="forbid")
    tool: str
    summary: str


class ToolInput(BaseModel):
    """Base of every tool's input model; its JSON schema is what Claude sees as `input_schema`."""

    # allow_inf_nan=False: "inf" is not an amount, and Infinity is not JSON (Slack, Redis).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value):
        # PostgreSQL text cannot hold NUL, and no id or name has control characters: say so here
        # rather than fail inside a query.
        if isinstance(value, str) and any(ord(ch) < 32 for ch in value):
            raise ValueError("contains a control character; use plain text")
        return value


# --- the field vocabulary several tools share (descriptions are what Claude reads) ------------------

Axis = Literal[
    "frequency", "value", "exploration", "price_sensitivity",
    "cadence", "maturity", "repurchase", "returns",
]
AXES: tuple[str, ...] = Axis.__args__  # type: ignore[attr-defined]
RiskLevel = Literal["low", "medium", "high", "critical"]
ValueTier = Literal["whale", "vip", "high", "regular", "new"]

PERIOD_HELP = (
    "Time window relative to the latest order in the data: 'last_90_days', 'last_12_weeks', "
    "'last_6_months', 'last_quarter', 'this_year', 'last_year', a quarter '2010-Q4', a month "
    "'2010-11', a year '2010', or 'YYYY-MM-DD..YYYY-MM-DD'. Omit for all history."
)
CUSTOMER_HELP = "The customer's pseudonymous id 'C-XXXXXXXX' or the store's own customer id."
SEGMENT_HELP = "A behavioural segment as 'axis:name' (e.g. 'frequency:frequent') or just its name."
ARCHETYPE_HELP = "An archetype id (e.g. 'A-1f3c9e') or its name."


# --- what a tool runs with --------------------------------------------------------------------------

class AnswerCache(Protocol):
    """The cache a ToolContext carries (analytics.cache.Cache: Redis or in-process)."""

    def get_or_compute(self, key: str, ttl: int | None, fn: Callable[[], T],
                       model: type[BaseModel] | None = None) -> T: ...


@dataclass
class ToolContext:
    """What a tool needs to run: storage, settings and the answer cache. Built once per process by
    the composition root (app.py)."""

    db: Database
    settings: Settings
    cache: AnswerCache | None = None
    # False for read-only surfaces (MCP): tools must not write customer data anywhere (the campaign
    # tool then returns its list without writing the CSV of emails the Slack owner export gets).
    writes_exports: bool = True
    # Per-process memos (the current run, known customer ids): never shared across processes.
    memo: dict[str, Any] = field(default_factory=dict, repr=False)


# --- which discovery run a question reads -----------------------------------------------------------

NO_RUN_MESSAGE = "no discovery run yet — run `python app.py discover`"
# Which run is current is re-read at most this often per process: one database round trip less
# per answer. A run published by another process is seen within this interval (a publish in this
# process calls forget_current_run()).
RUN_CHECK_SECONDS = 1.0


class RunInfo(BaseModel):
    run_id: int
    as_of: datetime
    finished_at: datetime | None = None


def _one_run(ctx: ToolContext, name: str, params: dict | None = None) -> RunInfo | None:
    with ctx.db.cursor() as cur:
        cur.execute(query(name), params or {})
        row = cur.fetchone()
    return RunInfo(**row) if row else None


def current_run(ctx: ToolContext) -> RunInfo | None:
    """The published run every answer reads, or None before the first discovery."""
    now = time.monotonic()
    known = ctx.memo.get("current_run")
    if known is not None and now - known[0] < RUN_CHECK_SECONDS:
        return known[1]
    run = _one_run(ctx, "runs.current")
    ctx.memo["current_run"] = (now, run)
    return run


def forget_current_run(ctx: ToolContext) -> None:
    """Make the next current_run() read the database (after this process published a run)."""
    ctx.memo.pop("current_run", None)


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
    return _one_run(ctx, "runs.days_ago", {"days": days})


def previous_run(ctx: ToolContext) -> RunInfo | None:
    """The published run just before the current one (the fallback when none is old enough)."""
    return _one_run(ctx, "runs.previous")
