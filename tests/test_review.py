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


def test_lapsed_and_segment_moves_since_the_run_a_week_before(store):
    """With a run three weeks older, the review lists who lapsed since (computed here from both runs'
    stages) and the segments that moved most (the tool's changes, largest first). Last in the module:
    it publishes two more runs (the second at the same date as the fixture's)."""
    from analytics.core import forget_current_run
    from discovery.pipeline import run_discovery

    ctx = store.ctx
    with ctx.db.cursor() as cur:
        latest = cur.execute("SELECT max(ordered_at) AS at FROM orders").fetchone()["at"]
    old_as_of = (latest - timedelta(days=21)).date()
    assert run_discovery(ctx.db, ctx.settings, as_of=old_as_of.isoformat()).status == "published"
    assert run_discovery(ctx.db, ctx.settings).status == "published"
    forget_current_run(ctx)
    review = weekly_review(ctx)
    assert review.compared_with_run_of == old_as_of
    with ctx.db.cursor() as cur:
        cur.execute("SELECT run_id FROM discovery_runs WHERE status = 'published' ORDER BY run_id DESC LIMIT 2")
        now_id, old_id = (row["run_id"] for row in cur.fetchall())
        cur.execute("SELECT p.run_id, c.public_id, p.lifecycle, p.revenue FROM customer_profiles p "
                    "JOIN customers c USING (customer_id) WHERE p.run_id IN (%s, %s)", (now_id, old_id))
        stages = {}
        for row in cur.fetchall():
            stages.setdefault(row["run_id"], {})[row["public_id"]] = (row["lifecycle"], float(row["revenue"]))
    lapsed = {cid: revenue for cid, (stage, revenue) in stages[now_id].items()
              if stage == "lapsed" and cid in stages[old_id] and stages[old_id][cid][0] != "lapsed"}
    assert review.lapsed_customers == len(lapsed) > 0
    assert review.lapsed_lifetime_value == pytest.approx(sum(lapsed.values()), abs=0.01)
    assert [c.public_id for c in review.lapsed] == sorted(lapsed, key=lambda cid: (-lapsed[cid], cid))[:5]
    changes = run_tool(ctx, "analyze_segments", {"mode": "changes", "days_ago": 7}).changes
    biggest = max(abs(c.change) for c in changes)
    assert review.segment_moves and abs(review.segment_moves[0].change) == biggest > 0
    blocks = review_blocks(review)
    assert all(bk.check_message_limits(page) == [] for page in bk.paginate(blocks))
    text = blocks_to_text(blocks)
    assert "Lapsed since the run of" in text and "Segments that moved most" in text
    assert str(len(lapsed)) in review.summary
