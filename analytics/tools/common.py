"""Small helpers the tool modules share: cached answers per run, filter resolution, number wording."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, TypeVar

from pydantic import BaseModel

from analytics.resolve import resolve_archetype, resolve_segment
from analytics.core import ToolInput
from analytics.core import ToolContext

R = TypeVar("R", bound=BaseModel)


def cached(ctx: ToolContext, tool: str, run_id: int, params: ToolInput | dict | str,
           compute: Callable[[], R], model: type[R]) -> R:
    """compute() once per (run, tool, arguments) until the TTL ends or the cache is invalidated.
    The run id is part of the key, so a newly published run never serves the old run's answers."""
    if isinstance(params, BaseModel):
        params = params.model_dump_json()
    key = f"run{run_id}:{tool}:{params}"
    if ctx.cache is None:
        return compute()
    return ctx.cache.get_or_compute(key, None, compute, model=model)


@contextmanager
def read_cursor(ctx: ToolContext) -> Iterator:
    """A dict-row cursor for the tools' read queries, with JIT compilation off: on these 10-500 ms
    queries PostgreSQL's JIT costs up to a second of compiling and never pays back."""
    with ctx.db.cursor() as cur:
        cur.execute("SET LOCAL jit = off")
        yield cur


def segment_filter(ctx: ToolContext, text: str | None, run_id: int) -> tuple[str | None, str | None]:
    return resolve_segment(ctx, text, run_id) if text else (None, None)


def archetype_filter(ctx: ToolContext, text: str | None, run_id: int) -> str | None:
    return resolve_archetype(ctx, text, run_id) if text else None


def money(value: float | None) -> str:
    """183000 → '183k', 1234.5 → '1,235', 2500000 → '2.5M' (the store's currency, unnamed)."""
    if value is None:
        return "n/a"
    size = abs(value)
    if size >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if size >= 10_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:,.0f}"


def exact_money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:,.2f}"


def pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0%}"


def num(value) -> float | None:
    """Decimal/None from the database → float/None for the result models."""
    return None if value is None else float(value)
