"""The customer review, posted unasked: `/customer-digest` subscribes a channel (allow-lists hold),
and each period's review reaches each subscribed channel exactly once even with two instances posting
at the same moment; an unsubscribed channel gets nothing; a failed post is retried next time."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from pydantic import SecretStr

from analytics.core import ToolContext
from bot.app import web_client
from bot.digest import post_due_reviews
from sql import Database
from tests.fake_slack import FakeSlack
from tests.synthetic_stores import loaded_store
from tests.test_slack_support import Harness

# A Monday after the review's hour (DIGEST_HOUR, 8 by default, UTC): both cadences are due.
MONDAY = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def _subscriptions(db) -> dict[str, str]:
    with db.cursor() as cur:
        cur.execute("SELECT channel_id, cadence FROM digest_subscriptions")
        return {r["channel_id"]: r["cadence"] for r in cur.fetchall()}


def test_the_command_subscribes_and_unsubscribes(settings, fresh_db):
    h = Harness(settings, fresh_db)
    try:
        answer = h.command("/customer-digest", "weekly")
        assert answer.status_code == 200 and "weekly customer review" in answer.text
        assert _subscriptions(fresh_db) == {"C0GENERAL": "weekly"}
        assert "daily" in h.command("/customer-digest", "daily <#C0SALES|sales>").text
        assert _subscriptions(fresh_db) == {"C0GENERAL": "weekly", "C0SALES": "daily"}
        assert "no longer" in h.command("/customer-digest", "off").text
        assert _subscriptions(fresh_db) == {"C0SALES": "daily"}
        assert "/customer-digest weekly" in h.command("/customer-digest", "sometimes").text
    finally:
        h.close()


def test_only_allowed_channels_can_subscribe(settings, fresh_db):
    h = Harness(settings, fresh_db, slack_allowed_channels=["C0ALLOWED"])
    try:
        assert "not enabled here" in h.command("/customer-digest", "weekly", channel="C0OTHER").text
        assert _subscriptions(fresh_db) == {}
    finally:
        h.close()


@pytest.fixture(scope="module")
def store(migrated_template, settings):
    with loaded_store(migrated_template, settings, customers=600, seed=5) as loaded:
        yield loaded


def test_each_period_is_posted_once_across_two_instances(store):
    with store.ctx.db.cursor() as cur:
        cur.execute("DELETE FROM digest_subscriptions")
        for channel, cadence in (("C0WEEK1", "weekly"), ("C0WEEK2", "weekly"), ("C0DAY", "daily")):
            cur.execute("INSERT INTO digest_subscriptions (channel_id, cadence, subscribed_by) VALUES (%s, %s, 'U0')",
                        (channel, cadence))
    with FakeSlack() as fake:
        slack = store.ctx.settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-test"), "slack_api_url": fake.api_url})
        instances = [ToolContext(db=Database(store.url, migrate=False), settings=store.ctx.settings) for _ in range(2)]
        try:
            results: list[dict] = []
            threads = [threading.Thread(target=lambda c=c: results.append(post_due_reviews(web_client(slack), c, MONDAY)))
                       for c in instances]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            firsts = fake.calls_to("chat.postMessage", lambda a: not a.get("thread_ts"))
            assert sorted(c.args["channel"] for c in firsts) == ["C0DAY", "C0WEEK1", "C0WEEK2"]
            posted = sorted(ch for r in results for chans in r.values() for ch in chans)
            assert posted == ["C0DAY", "C0WEEK1", "C0WEEK2"]
            assert all("Weekly customer review" in str(c.args.get("blocks")) for c in firsts)
            # The same period again: nothing new.
            assert post_due_reviews(web_client(slack), instances[0], MONDAY) == {}
            assert len(fake.calls_to("chat.postMessage", lambda a: not a.get("thread_ts"))) == 3
        finally:
            for c in instances:
                c.db.close()


def test_a_failed_post_is_given_back_and_an_unsubscribed_channel_gets_nothing(store):
    with store.ctx.db.cursor() as cur:
        cur.execute("DELETE FROM digest_subscriptions")
        cur.execute("INSERT INTO digest_subscriptions (channel_id, cadence, subscribed_by) VALUES ('C0GONE', 'weekly', 'U0')")
    with FakeSlack() as fake:
        slack = store.ctx.settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-test"), "slack_api_url": fake.api_url})
        fake.not_in_channel("C0GONE")
        assert post_due_reviews(web_client(slack), store.ctx, MONDAY) == {}
        with store.ctx.db.cursor() as cur:
            cur.execute("SELECT last_period FROM digest_subscriptions WHERE channel_id = 'C0GONE'")
            assert cur.fetchone()["last_period"] is None          # given back: the next run tries again
            cur.execute("DELETE FROM digest_subscriptions")
        fake.clear()
        assert post_due_reviews(web_client(slack), store.ctx, MONDAY) == {}
        assert fake.calls_to("chat.postMessage") == []
