"""Thread memory in PostgreSQL: the earlier turns of a Slack thread or console session, so a
follow-up ("same for last quarter") works on any app instance. Turns expire after a TTL; beyond
a size cap the oldest are folded into a one-line-per-turn summary and deleted; tool results are
trimmed before they are stored."""
from __future__ import annotations

import json
import logging
import re
from typing import Any

from psycopg.types.json import Jsonb

from sql import query

log = logging.getLogger(__name__)

DEFAULT_TTL_SECONDS = 3 * 24 * 3600
DEFAULT_MAX_TURNS = 6
MAX_RESULT_CHARS = 2_000
MAX_ROWS_KEPT = 5
MAX_SUMMARY_CHARS = 1_200
# Public ids of a listed result's first rows, kept even when the rows themselves are trimmed away,
# so 'tell me about the 7th one' can name the customer (ids only: never names or emails).
MAX_ROW_IDS_KEPT = 20
# PostgreSQL text and jsonb cannot hold NUL; other control characters are noise in a stored turn.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def strip_control(value: Any) -> Any:
    """`value` with control characters (NUL included; newlines and tabs kept) removed from every
    string, in nested dicts and lists too."""
    if isinstance(value, str):
        return _CONTROL.sub("", value)
    if isinstance(value, dict):
        return {strip_control(k): strip_control(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [strip_control(v) for v in value]
    return value


def _row_ids(result: dict[str, Any]) -> list[str] | None:
    for value in result.values():
        if isinstance(value, list) and value and isinstance(value[0], dict) and "public_id" in value[0]:
            return [str(row["public_id"]) for row in value[:MAX_ROW_IDS_KEPT]
                    if isinstance(row, dict) and row.get("public_id")]
    return None


def trim_result(result: dict[str, Any] | None, max_chars: int = MAX_RESULT_CHARS) -> dict[str, Any] | None:
    """A tool result small enough to keep: lists cut to their first rows (with the count kept),
    and if still too big only the tool and summary."""
    if result is None:
        return None
    row_ids = _row_ids(result)
    trimmed: dict[str, Any] = {}
    for key, value in result.items():
        if isinstance(value, list) and len(value) > MAX_ROWS_KEPT:
            trimmed[key] = value[:MAX_ROWS_KEPT]
            trimmed[f"{key}_total_rows"] = len(value)
        else:
            trimmed[key] = value
    if row_ids is not None:
        trimmed["row_ids"] = row_ids
    if len(json.dumps(trimmed, default=str)) > max_chars:
        small = {"tool": result.get("tool"), "summary": result.get("summary"), "trimmed": True}
        if row_ids is not None:
            small["row_ids"] = row_ids
        return small
    return trimmed


def _summary_line(question: str, tool_calls: list[dict[str, Any]]) -> str:
    tools = ", ".join(f"{c.get('tool')}({json.dumps(c.get('arguments') or {}, sort_keys=True)})" for c in tool_calls)
    return f"- asked {question[:120]!r}" + (f" -> {tools}" if tools else "") + "\n"


class ThreadMemory:
    """Load and append the turns of a thread. `thread_key=None` means no memory (one-off ask)."""

    def __init__(self, db, *, ttl_seconds: int = DEFAULT_TTL_SECONDS, max_turns: int = DEFAULT_MAX_TURNS) -> None:
        self.db = db
        self.ttl_seconds = ttl_seconds
        self.max_turns = max_turns

    def load(self, thread_key: str | None) -> tuple[str, list[dict[str, Any]]]:
        """(summary of dropped turns, recent turns oldest first)."""
        if not thread_key:
            return "", []
        params = {"thread_key": thread_key, "ttl_seconds": self.ttl_seconds, "max_turns": self.max_turns}
        with self.db.cursor() as cur:
            turns = cur.execute(query("router.recent_turns"), params).fetchall()
            row = cur.execute(query("router.thread_summary"), params).fetchone()
        summary = row["summary"] if row else ""
        return summary, [dict(t) for t in reversed(turns)]

    def history(self, thread_key: str | None) -> list[dict[str, Any]]:
        return self.load(thread_key)[1]

    def append(self, thread_key: str | None, *, question: str, answer: str, source: str,
               tool_calls: list[dict[str, Any]], option_calls: list[dict[str, Any]] | None = None) -> None:
        if not thread_key:
            return
        question, answer = strip_control(question), strip_control(answer)
        stored_calls = [
            {"tool": c.get("tool"), "arguments": c.get("arguments") or {},
             "result": trim_result(c.get("result")), "error": c.get("error")}
            for c in tool_calls
        ]
        stored_calls = strip_control(stored_calls)
        option_calls = strip_control(option_calls or [])
        with self.db.connection() as conn, conn.cursor() as cur:
            cur.execute(query("router.lock_thread"), {"thread_key": thread_key})
            cur.execute(query("router.insert_turn"), {
                "thread_key": thread_key, "question": question, "answer": answer, "source": source,
                "tool_calls": Jsonb(stored_calls), "option_calls": Jsonb(option_calls or []),
            })
            cur.execute(query("router.touch_thread"), {"thread_key": thread_key})
            overflow = cur.execute(query("router.overflow_turns"),
                                   {"thread_key": thread_key, "max_turns": self.max_turns}).fetchall()
            if overflow:
                # Oldest first, one short line each, so the summary reads in order.
                lines = "".join(_summary_line(q, calls) for _id, q, calls in reversed(overflow))
                cur.execute(query("router.upsert_summary"),
                            {"thread_key": thread_key, "summary": lines, "max_chars": MAX_SUMMARY_CHARS})
                cur.execute(query("router.delete_turns"), {"turn_ids": [row[0] for row in overflow]})
            cur.execute(query("router.purge_expired"), {"ttl_seconds": self.ttl_seconds})

    def record_usage(self, **fields: Any) -> None:
        """One row per question in router_usage; never lets bookkeeping break an answer."""
        try:
            with self.db.connection() as conn:
                conn.execute(query("router.insert_usage"), fields)
        except Exception:  # noqa: BLE001 - logged with context, the answer still goes out
            log.exception("could not record token usage for thread %s", fields.get("thread_key"))

    def usage_totals(self, days: int = 30) -> list[dict[str, Any]]:
        """Questions and tokens per source over the last `days` days (what the store pays for)."""
        with self.db.cursor() as cur:
            return [dict(r) for r in cur.execute(query("router.usage_totals"), {"days": days}).fetchall()]
