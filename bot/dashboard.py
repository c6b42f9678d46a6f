"""Everything the App Home dashboard shows, gathered from the current discovery run: headline
numbers and run health (SQL in sql/queries/slack.sql), the top at-risk customers and the biggest
archetypes (through the same tools every other answer uses)."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from psycopg.rows import dict_row

from bot.subscriptions import subscriptions
from sql import query

log = logging.getLogger(__name__)
TOP_AT_RISK = 5
# Headline numbers depend only on the published run, so they are computed once per run (the Home
# tab is opened far more often than runs are published).
_headlines: dict[tuple[str, int], dict[str, Any]] = {}
_headlines_lock = threading.Lock()


@dataclass
class Dashboard:
    headline: dict[str, Any] | None
    current_run: dict[str, Any] | None
    latest_run: dict[str, Any] | None
    at_risk: Any = None          # analyze_customers result, or None
    archetypes: Any = None       # segment_info result, or None
    subscriptions: list[dict] = field(default_factory=list)   # channels getting the review and alerts
    problems: list[str] = field(default_factory=list)


def run_status(db) -> tuple[dict | None, dict | None]:
    """(current published run, latest run of any status) as dicts; shared with /health/ready."""
    with db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(query("slack.current_run")).fetchone()
    return row["current_run"], row["latest_run"]


def headline_for(db, run_id: int) -> dict[str, Any]:
    key = (db.url, run_id)
    with _headlines_lock:
        if key in _headlines:
            return _headlines[key]
    with db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        headline = cur.execute(query("slack.home_headline"), {"run_id": run_id}).fetchone()
    with _headlines_lock:
        if len(_headlines) > 16:
            _headlines.clear()
        _headlines[key] = headline
    return headline


def load_dashboard(deps) -> Dashboard:
    current, latest = run_status(deps.db)
    headline = headline_for(deps.db, current["run_id"]) if current else None
    board = Dashboard(headline=headline, current_run=current, latest_run=latest, subscriptions=subscriptions(deps.db))
    if current is None:
        return board
    for attribute, tool, arguments in (
        ("at_risk", "analyze_customers", {"sort_by": "churn_risk", "limit": TOP_AT_RISK}),
        ("archetypes", "segment_info", {}),
    ):
        try:
            setattr(board, attribute, deps.run_tool(tool, arguments))
        except Exception as exc:  # one panel failing must not blank the whole Home tab
            log.warning("home panel %s failed: %s", tool, exc)
            board.problems.append(tool)
    return board
