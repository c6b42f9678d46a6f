"""Alerts posted unasked (issue 17), with the Slack fake: a planted at-risk whale and a planted revenue
drop in the synthetic store each fire once, and not again the next hour or the next discovery run;
quiet hours (in the store's time zone) hold alerts until they end; unsubscribing stops them; two
instances post each alert once; the daily cap holds; blocks stay within Slack's limits; the store's
time zone decides which period a review belongs to; the App Home buttons subscribe and stop."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from analytics.alerts import Alert, find_alerts, last_complete_week
from analytics.core import ToolContext, forget_current_run
from bot.alerts import in_quiet_hours, post_due_alerts, record_alerts
from bot.app import web_client
from bot.digest import due_periods, post_due_reviews
from bot.subscriptions import set_subscription
from bot.views import blocks as bk
from bot.views.alerts import alert_blocks
from bot.views.answer import tool_call_value
from bot.views.home import DIGEST_BLOCK, DIGEST_CHANNEL, home_view
from discovery.pipeline import run_discovery
from observability import metrics
from settings import SettingsError, load_settings
from sql import Database
from tests.fake_slack import FakeSlack
from tests.synthetic_stores import loaded_store
from tests.test_slack_support import Harness, signed_headers

REPO = Path(__file__).resolve().parents[1]
# Noon UTC today: the stale-run check compares with the run just made, so "now" stays near it.
NOON = datetime.now(timezone.utc).replace(hour=12, minute=0, second=0, microsecond=0)


@pytest.fixture(scope="module")
def store(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=600, seed=5, alerts_per_channel_per_day=10) as loaded:
        yield loaded


def _reset(db, *channels: str) -> None:
    with db.cursor() as cur:
        cur.execute("DELETE FROM alert_deliveries")
        cur.execute("DELETE FROM alerts")
        cur.execute("DELETE FROM digest_subscriptions")
        for channel in channels:
            cur.execute("INSERT INTO digest_subscriptions (channel_id, cadence, subscribed_by) "
                        "VALUES (%s, 'weekly', 'U0')", (channel,))


def _ctx(store, **settings) -> ToolContext:
    return ToolContext(db=store.ctx.db, settings=store.ctx.settings.model_copy(update=settings))


def _slack(ctx: ToolContext, fake: FakeSlack):
    return web_client(ctx.settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-test"),
                                                      "slack_api_url": fake.api_url}))


def _plant_at_risk_whale(db) -> dict:
    """An active whale whose orders are moved back until they are 2.5 of their usual gaps overdue:
    at_risk by the lifecycle rules (over 1.5 gaps), not lapsed (under 4), same lifetime value."""
    with db.cursor() as cur:
        cur.execute("""
            SELECT p.customer_id, c.public_id, c.email, c.name, p.recency_days,
                   (p.features ->> 'overdue_gaps')::float8 AS overdue_gaps
            FROM customer_profiles p
            JOIN discovery_runs r ON r.run_id = p.run_id AND r.is_current
            JOIN customers c ON c.customer_id = p.customer_id
            WHERE p.value_tier = 'whale' AND p.lifecycle = 'active' AND (p.features ->> 'overdue_gaps')::float8 > 0.05
              AND p.last_order_at < (SELECT max(ordered_at) FROM orders)
            ORDER BY p.recency_days / (p.features ->> 'overdue_gaps')::float8
            LIMIT 1""")
        whale = dict(cur.fetchone())
        usual_gap = whale["recency_days"] / whale["overdue_gaps"]
        shift = math.ceil(2.5 * usual_gap - whale["recency_days"])
        cur.execute("UPDATE orders SET ordered_at = ordered_at - make_interval(days => %s) WHERE customer_id = %s",
                    (shift, whale["customer_id"]))
    return whale


def _plant_revenue_drop(db) -> tuple:
    """Every sale of the last complete week at a quarter of its price."""
    with db.cursor() as cur:
        cur.execute("SELECT max(ordered_at) AS latest FROM orders")
        week_start, week_end = last_complete_week(cur.fetchone()["latest"])
        start = datetime.combine(week_start, datetime.min.time(), timezone.utc)
        week = "kind = 'sale' AND ordered_at >= %(start)s AND ordered_at < %(end)s"
        bounds = {"start": start, "end": start + timedelta(days=7)}
        cur.execute(f"""UPDATE order_lines SET unit_price = round(unit_price / 4, 2), discount = round(discount / 4, 2)
                        WHERE order_id IN (SELECT order_id FROM orders WHERE {week})""", bounds)
        cur.execute(f"""UPDATE orders SET subtotal = round(subtotal / 4, 2), total = round(total / 4, 2),
                               discount_total = round(discount_total / 4, 2) WHERE {week}""", bounds)
    return week_start, week_end


def _alerts_counted(kind: str, outcome: str) -> float:
    return metrics.REGISTRY.get_sample_value("cib_slack_alerts_total", {"kind": kind, "outcome": outcome}) or 0.0


def _rediscover(ctx: ToolContext) -> None:
    assert run_discovery(ctx.db, ctx.settings).status == "published"
    forget_current_run(ctx)


def test_a_planted_whale_and_revenue_drop_alert_once(store):
    ctx = _ctx(store)
    _reset(ctx.db, "C0ALERTS")
    _rediscover(ctx)                       # a previous run to compare with, on the same data: no whale moved
    unplanted = {a.kind for a in find_alerts(ctx, NOON)}
    assert not unplanted & {"customer_at_risk", "revenue_outside_forecast"}
    whale = _plant_at_risk_whale(ctx.db)
    week_start, week_end = _plant_revenue_drop(ctx.db)
    _rediscover(ctx)
    posted_before = _alerts_counted("customer_at_risk", "posted")
    with FakeSlack() as fake:
        posted = post_due_alerts(_slack(ctx, fake), ctx, NOON)
        assert _alerts_counted("customer_at_risk", "posted") >= posted_before + 1
        keys = posted["C0ALERTS"]
        assert sum(k.startswith(f"customer_at_risk:{whale['public_id']}:") for k in keys) == 1
        assert sum(k.startswith("revenue_outside_forecast:store:") for k in keys) == 1
        messages = fake.calls_to("chat.postMessage")
        assert len(messages) == len(keys)
        (whale_alert,) = [m.args for m in messages if whale["public_id"] in m.args["text"]]
        assert "from active to at risk" in whale_alert["text"] and "churn probability" in whale_alert["text"]
        (revenue_alert,) = [m.args for m in messages if m.args["text"].startswith("Net revenue")]
        assert f"{week_start} to {week_end}" in revenue_alert["text"]
        assert "below the 80% interval" in revenue_alert["text"]
        for message in messages:
            assert bk.check_message_limits(message.args["blocks"]) == []
            shown = json.dumps(message.args)
            assert not [pii for pii in (whale["email"], whale["name"]) if pii and pii in shown]
        # The whale's button opens their profile; the revenue one the week's figures.
        assert whale["public_id"] in json.dumps(whale_alert["blocks"][1])
        # The next hour, then the next discovery run: nothing again.
        assert post_due_alerts(_slack(ctx, fake), ctx, NOON + timedelta(hours=1)) == {}
        _rediscover(ctx)
        assert post_due_alerts(_slack(ctx, fake), ctx, NOON + timedelta(hours=2)) == {}
        assert len(fake.calls_to("chat.postMessage")) == len(messages)


def test_a_planted_return_spike_and_a_failed_run_alert(store):
    ctx = _ctx(store, alert_stale_run_hours=1)
    with ctx.db.cursor() as cur:
        cur.execute("SELECT max(ordered_at) AS latest FROM orders")
        week_start, week_end = last_complete_week(cur.fetchone()["latest"])
        cur.execute("""SELECT p.category, (array_agg(p.sku ORDER BY p.product_id))[1] AS sku,
                              (array_agg(coalesce(p.title, p.sku) ORDER BY p.product_id))[1] AS title,
                              min(p.product_id) AS product_id
                       FROM products p LEFT JOIN order_lines l ON l.product_id = p.product_id AND l.kind = 'return'
                       WHERE p.category IS NOT NULL GROUP BY p.category ORDER BY count(l.*), p.category LIMIT 1""")
        quiet = cur.fetchone()
    assert not [a for a in find_alerts(ctx, NOON) if a.subject == f"category:{quiet['category']}"]
    with ctx.db.cursor() as cur:
        start = datetime.combine(week_start, datetime.min.time(), timezone.utc) + timedelta(hours=9)
        for i in range(12):
            cur.execute("INSERT INTO orders (store_order_id, ordered_at, kind, subtotal, total) "
                        "VALUES (%s, %s, 'return', -10, -10) RETURNING order_id",
                        (f"SPIKE-{i}", start + timedelta(hours=i)))
            cur.execute("INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, kind) "
                        "VALUES (%s, 1, %s, -1, 10, 'return')", (cur.fetchone()["order_id"], quiet["product_id"]))
        cur.execute("INSERT INTO discovery_runs (status, as_of, finished_at, error) "
                    "VALUES ('failed', now(), now(), 'crashed on jane@example.com') RETURNING run_id")
        failed_run = cur.fetchone()["run_id"]
    try:
        found = {a.key: a for a in find_alerts(ctx, datetime.now(timezone.utc) + timedelta(hours=3))}
        year, week, _ = week_end.isocalendar()
        spike = found[f"return_spike:category:{quiet['category']}:{year}-W{week:02d}"]
        assert f"{quiet['category']} spiked: 12 return orders in the week {week_start} to {week_end}" in spike.reason
        # The product that drove it is named in the category's alert rather than alerting again.
        assert f"led by {quiet['title']} (12)" in spike.reason
        assert not any(k.startswith(f"return_spike:product:{quiet['sku']}:") for k in found)
        failed = found[f"discovery_failed:discovery:run-{failed_run}"]
        assert "failed" in failed.reason and "jane@example.com" not in failed.reason
        assert any(k.startswith("discovery_stale:discovery:run-") for k in found)      # finished over an hour "ago"
        for alert in found.values():
            assert bk.check_message_limits(alert_blocks(alert.model_dump())) == []
    finally:
        with ctx.db.cursor() as cur:
            cur.execute("DELETE FROM orders WHERE store_order_id LIKE 'SPIKE-%'")
            cur.execute("DELETE FROM discovery_runs WHERE run_id = %s", (failed_run,))


def test_quiet_hours_hold_alerts_in_the_store_time_zone(store):
    # 22:00-07:00 in New York is 03:00-12:00 UTC in December.
    ctx = _ctx(store, store_timezone="America/New_York", alert_quiet_hours="22-07")
    _reset(ctx.db, "C0QUIET")
    night = NOON - timedelta(hours=1)                  # 06:00 in New York, 11:00 UTC
    assert in_quiet_hours(ctx.settings, night) and not in_quiet_hours(ctx.settings, NOON)
    assert not in_quiet_hours(_ctx(store, alert_quiet_hours="22-07").settings, night)   # in UTC it is day
    with FakeSlack() as fake:
        assert post_due_alerts(_slack(ctx, fake), ctx, night) == {}
        assert fake.calls_to("chat.postMessage") == []
        with ctx.db.cursor() as cur:
            cur.execute("SELECT count(*) AS held FROM alert_deliveries WHERE status = 'pending'")
            held = cur.fetchone()["held"]
        assert held >= 1
        posted = post_due_alerts(_slack(ctx, fake), ctx, NOON)   # 07:00 in New York: quiet hours over
        assert len(posted["C0QUIET"]) == held == len(fake.calls_to("chat.postMessage"))


def test_unsubscribing_stops_held_and_new_alerts(store):
    ctx = _ctx(store, alert_quiet_hours="10-12")
    _reset(ctx.db, "C0KEEP", "C0GONE")
    with FakeSlack() as fake:
        assert post_due_alerts(_slack(ctx, fake), ctx, NOON - timedelta(hours=1)) == {}   # held
        deps = SimpleNamespace(settings=ctx.settings, db=ctx.db)
        assert "no longer" in set_subscription(deps, "C0GONE", "U0", "off")
        record_alerts(ctx, [Alert(kind="data_stale", subject="orders", period="after-unsubscribe",
                                  reason="A new alert after the channel left.")], NOON)
        posted = post_due_alerts(_slack(ctx, fake), ctx, NOON)
        assert set(posted) == {"C0KEEP"} and any(k.endswith(":after-unsubscribe") for k in posted["C0KEEP"])
        assert {c.args["channel"] for c in fake.calls_to("chat.postMessage")} == {"C0KEEP"}


def test_nothing_is_looked_for_until_a_channel_subscribes(store):
    """No subscribed channel: the hourly check finds and records nothing (it would reach no one); a
    channel subscribing later gets what the data shows then."""
    ctx = _ctx(store)
    _reset(ctx.db)
    with FakeSlack() as fake:
        assert post_due_alerts(_slack(ctx, fake), ctx, NOON) == {}
        with ctx.db.cursor() as cur:
            assert cur.execute("SELECT count(*) AS n FROM alerts").fetchone()["n"] == 0
        _reset(ctx.db, "C0LATE")
        posted = post_due_alerts(_slack(ctx, fake), ctx, NOON)
        assert set(posted) == {"C0LATE"} and posted["C0LATE"]   # the synthetic data is stale at least
        assert {c.args["channel"] for c in fake.calls_to("chat.postMessage")} == {"C0LATE"}


def test_two_instances_post_each_alert_once_per_channel(store):
    _reset(store.ctx.db, "C0ONE", "C0TWO")
    instances = [ToolContext(db=Database(store.url, migrate=False), settings=store.ctx.settings) for _ in range(2)]
    try:
        with FakeSlack() as fake:
            results: list[dict] = []
            threads = [threading.Thread(target=lambda c=c: results.append(post_due_alerts(_slack(c, fake), c, NOON)))
                       for c in instances]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent = [(c.args["channel"], c.args["text"]) for c in fake.calls_to("chat.postMessage")]
            assert sent and len(sent) == len(set(sent))
            with store.ctx.db.cursor() as cur:
                cur.execute("SELECT count(*) AS n FROM alerts")
                alerts = cur.fetchone()["n"]
            assert len(sent) == 2 * alerts
            per_channel = [(channel, key) for r in results for channel, keys in r.items() for key in keys]
            assert len(per_channel) == len(set(per_channel)) == len(sent)
    finally:
        for c in instances:
            c.db.close()


def test_the_daily_cap_holds_the_rest_for_the_next_day(store):
    ctx = _ctx(store, alerts_per_channel_per_day=2)
    _reset(ctx.db, "C0CAP")
    record_alerts(ctx, [Alert(kind="data_stale", subject="orders", period=f"cap-{i}", reason=f"Cap test {i}.")
                        for i in range(3)], NOON - timedelta(hours=1))
    with FakeSlack() as fake:
        assert len(post_due_alerts(_slack(ctx, fake), ctx, NOON)["C0CAP"]) == 2
        assert post_due_alerts(_slack(ctx, fake), ctx, NOON + timedelta(hours=1)) == {}
        with ctx.db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM alert_deliveries WHERE status = 'pending'")
            held = cur.fetchone()["n"]
        assert held >= 1
        tomorrow = post_due_alerts(_slack(ctx, fake), ctx, NOON + timedelta(days=1))
        assert len(tomorrow["C0CAP"]) == min(2, held)


def test_a_failed_post_is_given_back(store):
    ctx = _ctx(store)
    _reset(ctx.db, "C0NOTIN")
    with FakeSlack() as fake:
        fake.not_in_channel("C0NOTIN")
        assert post_due_alerts(_slack(ctx, fake), ctx, NOON) == {}
        with ctx.db.cursor() as cur:
            cur.execute("SELECT count(*) FILTER (WHERE status = 'pending') AS pending, count(*) AS n "
                        "FROM alert_deliveries")
            row = cur.fetchone()
        assert row["n"] >= 1 and row["pending"] == row["n"]


def test_the_store_time_zone_decides_the_review_period(store):
    sunday_night = datetime(2026, 12, 6, 23, 30, tzinfo=timezone.utc)
    utc, tokyo = store.ctx.settings, store.ctx.settings.model_copy(update={"store_timezone": "Asia/Tokyo"})
    assert due_periods(utc, sunday_night) == {"weekly": "2026-W49", "daily": "2026-12-06"}
    assert due_periods(tokyo, sunday_night) == {"weekly": "2026-W50", "daily": "2026-12-07"}   # Monday 08:30
    assert due_periods(tokyo, sunday_night - timedelta(hours=1)) == {}     # Monday 07:30: not due yet
    with store.ctx.db.cursor() as cur:
        cur.execute("DELETE FROM digest_subscriptions")
        cur.execute("INSERT INTO digest_subscriptions (channel_id, cadence, subscribed_by, last_period) "
                    "VALUES ('C0TZ', 'weekly', 'U0', '2026-W49')")
    with FakeSlack() as fake:
        assert post_due_reviews(_slack(store.ctx, fake), store.ctx, sunday_night) == {}
        ctx = ToolContext(db=store.ctx.db, settings=tokyo)
        assert post_due_reviews(_slack(ctx, fake), ctx, sunday_night) == {"weekly": ["C0TZ"]}
        with store.ctx.db.cursor() as cur:
            cur.execute("SELECT last_period FROM digest_subscriptions WHERE channel_id = 'C0TZ'")
            assert cur.fetchone()["last_period"] == "2026-W50"


def test_settings_check_the_time_zone_and_quiet_hours():
    paris = load_settings(store_timezone="Europe/Paris", alert_quiet_hours="22-07", _env_file=None)
    assert paris.quiet_hours == (22, 7) and paris.store_zone.key == "Europe/Paris"
    for bad in ({"store_timezone": "Mars/Olympus"}, {"alert_quiet_hours": "late"}, {"alert_quiet_hours": "7-7"},
                {"alert_quiet_hours": "22-25"}):
        with pytest.raises(SettingsError, match="STORE_TIMEZONE|ALERT_QUIET_HOURS"):
            load_settings(_env_file=None, **bad)


def _home_click(h: Harness, choice: str, channel: str | None) -> None:
    state = {"values": {DIGEST_BLOCK: {DIGEST_CHANNEL: {"type": "conversations_select",
                                                        "selected_conversation": channel}}}}
    payload = {"type": "block_actions", "team": {"id": "T0FAKE"}, "user": {"id": "U0ALICE"}, "api_app_id": "A0FAKE",
               "trigger_id": "trig-1", "container": {"type": "view", "view_id": "V1"},
               "view": {"id": "V1", "type": "home", "state": state},
               "actions": [{"type": "button", "action_id": f"digest_choice_{choice}", "value": choice,
                            "block_id": DIGEST_BLOCK, "action_ts": "1700000000.1"}]}
    body = urlencode({"payload": json.dumps(payload)})
    headers = signed_headers(body, content_type="application/x-www-form-urlencoded")
    assert h.http.post("/slack/events", content=body, headers=headers).status_code == 200


def test_app_home_buttons_subscribe_and_stop(settings, fresh_db):
    h = Harness(settings, fresh_db, slack_allowed_channels=["C0OK"])
    try:
        _home_click(h, "weekly", "C0OK")
        dm = h.fake.wait_for("chat.postMessage", lambda a: a.get("channel") == "U0ALICE")
        assert "weekly customer review" in dm[0].args["text"]
        published = h.fake.wait_for("views.publish")
        assert "<#C0OK> (weekly)" in json.dumps(published[-1].args["view"])
        with fresh_db.cursor() as cur:
            cur.execute("SELECT channel_id, cadence FROM digest_subscriptions")
            assert [tuple(r.values()) for r in cur.fetchall()] == [("C0OK", "weekly")]
        _home_click(h, "weekly", "C0NOPE")                      # not on the allow-list
        h.fake.wait_for("chat.postMessage", lambda a: "not enabled" in (a.get("text") or ""))
        _home_click(h, "off", None)                             # no channel picked
        h.fake.wait_for("chat.postMessage", lambda a: "Pick a channel" in (a.get("text") or ""))
        _home_click(h, "off", "C0OK")
        h.fake.wait_for("chat.postMessage", lambda a: "no longer" in (a.get("text") or ""))
        with fresh_db.cursor() as cur:
            cur.execute("SELECT count(*) AS n FROM digest_subscriptions")
            assert cur.fetchone()["n"] == 0
    finally:
        h.close()


def test_review_buttons_open_the_full_lists_in_the_thread(settings, store):
    h = Harness(settings, store.ctx.db, real_analytics=True, ctx=store.ctx)
    try:
        value = tool_call_value("analyze_customers", {"lifecycle": "lapsed", "sort_by": "value", "limit": 25})
        h.action({"type": "button", "action_id": "show_more_lapsed", "value": value, "block_id": "b",
                  "action_ts": "1700000000.2"}, message_ts="1700000000.000900")
        reply = h.fake.wait_for("chat.postMessage", lambda a: a.get("thread_ts") == "1700000000.000900", timeout=30)
        assert "C-" in json.dumps(reply[0].args["blocks"]) and "lapsed" in json.dumps(reply[0].args)
    finally:
        h.close()


def test_home_view_with_subscriptions_fits(store):
    from bot.dashboard import Dashboard

    board = Dashboard(headline=None, current_run=None, latest_run=None,
                      subscriptions=[{"channel_id": f"C0{i:03d}", "cadence": "daily"} for i in range(40)])
    view = home_view(board)
    assert len(view["blocks"]) <= bk.MAX_HOME_BLOCKS
    assert any(b.get("block_id") == DIGEST_BLOCK for b in view["blocks"])


def test_digest_alerts_preview_lists_them_without_sending(store):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SLACK_", "GORGIAS_"))}
    env.update(DATABASE_URL=store.url, LOG_LEVEL="WARNING", PSEUDONYM_SECRET="test-pseudonym-secret")
    with store.ctx.db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM alerts")
        recorded = cur.fetchone()["n"]
    done = subprocess.run([sys.executable, "app.py", "digest", "--alerts", "--json"], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    shown = json.loads(done.stdout)
    assert "data_stale" in {a["kind"] for a in shown["alerts"]} and shown["review"]["week_end"]
    with store.ctx.db.cursor() as cur:
        cur.execute("SELECT count(*) AS n FROM alerts")
        assert cur.fetchone()["n"] == recorded                  # a preview records nothing


def test_an_alert_that_cannot_be_stored_never_loses_its_neighbours(store):
    _reset(store.ctx.db, "C0BAD")
    broken = Alert(kind="data_stale", subject="orders", period="bad", reason="a NUL \x00 PostgreSQL text refuses")
    fine = Alert(kind="data_stale", subject="orders", period="fine", reason="Stored.")
    assert [a.key for a in record_alerts(store.ctx, [broken, fine], NOON)] == [fine.key]
    with store.ctx.db.cursor() as cur:
        cur.execute("SELECT alert_key FROM alerts")
        assert [r["alert_key"] for r in cur.fetchall()] == [fine.key]
