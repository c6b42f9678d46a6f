"""The weekly customer review (`python app.py digest --preview`): its figures are store_metrics'
for the same weeks, its at-risk list is the tool's, and its blocks stay within Slack's limits."""
from __future__ import annotations

import os
import subprocess
from datetime import timedelta
import sys
from pathlib import Path

import pytest

from analytics.review import weekly_review
from analytics.tools.registry import run_tool
from bot.render_text import blocks_to_text
from bot.views import blocks as bk
from bot.views.review import review_blocks
from tests.synthetic_stores import loaded_store

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def store(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=900, seed=8) as loaded:
        yield loaded


def test_the_review_agrees_with_the_tools(store):
    ctx = store.ctx
    review = weekly_review(ctx)
    week = run_tool(ctx, "store_metrics", {"period": "last_7_days"})
    before_end = week.start - timedelta(days=1)
    before = run_tool(ctx, "store_metrics", {"period": f"{before_end - timedelta(days=6)}..{before_end}"})
    figures = {f.figure: f for f in review.figures}
    assert (review.week_start, review.week_end) == (week.start, week.end)
    for name in ("net_revenue", "orders", "new_customers", "active_customers"):
        assert figures[name].last_week == getattr(week.totals, name)
        assert figures[name].week_before == getattr(before.totals, name)
    at_risk = run_tool(ctx, "analyze_customers", {"lifecycle": "at_risk", "sort_by": "value_at_stake", "limit": 5})
    assert [c.public_id for c in review.at_risk] == [r.public_id for r in at_risk.rows]
    assert review.at_risk_customers == at_risk.totals.customers
    assert review.forecast_total is not None and review.changes_by_signal


def test_blocks_fit_slack_and_read_in_the_console(store):
    blocks = review_blocks(weekly_review(store.ctx))
    pages = bk.paginate(blocks)   # one table per message: the review posts as a short thread
    assert len(pages) == 2 and all(bk.check_message_limits(page) == [] for page in pages)
    assert sum(b["type"] == "table" for b in blocks) == 2 and any(b["type"] == "data_visualization" for b in blocks)
    text = blocks_to_text(blocks)
    assert "Weekly customer review" in text and "pts" in text and "C-" in text


def test_digest_preview_command(store):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_"))}
    env.update(DATABASE_URL=store.url, LOG_LEVEL="WARNING")
    done = subprocess.run([sys.executable, "app.py", "digest", "--preview"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Weekly customer review" in done.stdout and "Net revenue" in done.stdout
