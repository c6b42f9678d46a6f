"""Operating the served app: /metrics parses as Prometheus text and its series move when the real
app answers a Slack question, runs a tool and takes a Gorgias webhook; /health says the version;
/health/ready answers within a second, names what fails, and shows run details only to loopback
clients or METRICS_TOKEN holders, who alone may read /metrics when the token is set."""
from __future__ import annotations

import json
import re
import time
from importlib.metadata import version

import httpx
import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr
from starlette.testclient import TestClient

from analytics.cache import Cache
from analytics.core import ToolContext
from bot.app import build_slack_app, web_client
from wiring.web import build_web_app
from tests.analytics_fixture import analytics_db, ctx, loaded  # noqa: F401 - fixtures
from tests.fake_gorgias import FakeGorgias, ticket_payload
from tests.fake_slack import FakeSlack
from tests.test_slack_support import BOT_TOKEN, SIGNING_SECRET, ServedApp, event_body, signed_headers

HOOK_SECRET = "ops-hook-secret"
TOKEN = "ops-metrics-token"


def scrape(text: str) -> dict[tuple[str, frozenset], float]:
    """Every sample of a /metrics body by (sample name, labels); fails if the text does not parse."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def sample(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def served(loaded, ctx, settings):
    """The real web app (real Bolt app, real router and tools on the fixture store, Gorgias intake
    and worker) on loopback, against the fake Slack and the fake Gorgias."""
    db, fx = loaded
    with db.cursor() as cur:  # what a real run records; the fixture's run has no figures of its own
        cur.execute("UPDATE discovery_runs SET counts = '{\"customers\": 12}', metrics = '{\"churn_auc\": 0.81}' "
                    "WHERE is_current")
    slack = FakeSlack().start()
    with FakeGorgias() as gorgias:
        cfg = settings.model_copy(update={
            "slack_bot_token": SecretStr(BOT_TOKEN), "slack_signing_secret": SecretStr(SIGNING_SECRET),
            "slack_api_url": slack.api_url, "slack_app_token": None,
            "gorgias_base_url": gorgias.url, "gorgias_username": "agent@store.test",
            "gorgias_api_key": SecretStr("test-api-key"), "gorgias_webhook_secret": SecretStr(HOOK_SECRET),
            "anthropic_api_key": None})
        slack_app = build_slack_app(cfg, db, client=web_client(cfg), ctx=ctx)
        with ServedApp(build_web_app(cfg, db, ctx=ctx, slack_app=slack_app, scheduler=False)) as app:
            yield app, slack, gorgias
    slack.stop()


def _scrape_until(url: str, moved, timeout: float = 10.0) -> dict:
    """Scrape until `moved(samples)` (counts land just after the work they count)."""
    deadline = time.monotonic() + timeout
    while True:
        samples = scrape(httpx.get(url + "/metrics").text)
        if moved(samples) or time.monotonic() > deadline:
            return samples
        time.sleep(0.05)


def test_metrics_parse_and_move_with_a_slack_question_a_tool_call_and_a_gorgias_webhook(served):
    app, slack, gorgias = served
    before = scrape(httpx.get(app.url + "/metrics").text)

    ts = "1719700000.000100"
    mention = {"type": "app_mention", "user": "U0ALICE", "text": "<@UBOT> who is most likely to churn?", "ts": ts,
               "channel": "C0GENERAL", "event_ts": ts}
    body = event_body(mention, "EvOps0001")
    assert httpx.post(app.url + "/slack/events", content=body, headers=signed_headers(body)).status_code == 200
    slack.wait_for("chat.update")
    hook = httpx.post(app.url + "/gorgias/webhook", content=json.dumps(ticket_payload(
        91_001, 910_010, sender_email="margaret.whitfield@example.com")).encode(),
        headers={"X-Webhook-Token": HOOK_SECRET, "Content-Type": "application/json"})
    assert hook.status_code == 200, hook.text
    gorgias.wait_for_notes(1)

    def moved(s):
        return (sample(s, "cib_slack_handled_total", listener="app_mention", outcome="answered")
                > sample(before, "cib_slack_handled_total", listener="app_mention", outcome="answered")
                and sample(s, "cib_gorgias_notes_total", outcome="posted")
                > sample(before, "cib_gorgias_notes_total", outcome="posted"))

    after = _scrape_until(app.url, moved)

    def grew(name, **labels):
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert grew("cib_http_requests_total", path="/slack/events", status="200") == 1
    assert grew("cib_http_request_seconds_count", path="/gorgias/webhook") == 1
    assert grew("cib_slack_requests_total", kind="event_callback", type="app_mention") == 1
    assert grew("cib_slack_handled_total", listener="app_mention", outcome="answered") == 1
    assert grew("cib_slack_answers_total", source="offline") == 1
    assert grew("cib_slack_ack_seconds_count", listener="app_mention") == 1
    assert grew("cib_tool_calls_total", tool="analyze_customers", outcome="ok") >= 1
    assert grew("cib_tool_call_seconds_count", tool="analyze_customers") >= 1
    assert grew("cib_router_answers_total", path="offline", outcome="answer") == 1
    assert grew("cib_cache_lookups_total", result="miss", backend="memory") >= 1
    assert grew("cib_gorgias_webhooks_total", outcome="queued") == 1
    assert grew("cib_gorgias_notes_total", outcome="posted") == 1
    assert ("cib_gorgias_inbox_depth", frozenset({("status", "pending")})) in after
    assert sample(after, "cib_discovery_customers") == 12
    assert sample(after, "cib_churn_backtest_auc") == pytest.approx(0.81)
    assert sample(after, "cib_discovery_duration_seconds") == pytest.approx(180)
    assert sample(after, "cib_discovery_run_age_seconds") > 0
    # Every family carries HELP and TYPE (the old exposition appended Gorgias counters without them).
    text = httpx.get(app.url + "/metrics").text
    for family in text_string_to_metric_families(text):
        for line in ("HELP", "TYPE"):  # counters are written with their _total suffix
            assert re.search(rf"^# {line} {family.name}(_total)? ", text, re.MULTILINE), (line, family.name)


def test_import_rows_are_counted_by_class(fresh_db):
    from discovery import synthetic
    from discovery.importer import import_frame
    from observability import metrics

    frame, _truth = synthetic.generate_store(synthetic.StoreSpec(customers=30, seed=5))
    before = scrape(generate_latest(metrics.REGISTRY).decode())
    summary = import_frame(fresh_db, frame, "synthetic store")
    after = scrape(generate_latest(metrics.REGISTRY).decode())

    def grew(row_class: str) -> float:
        labels = {"class": row_class}
        return sample(after, "cib_import_rows_total", **labels) - sample(before, "cib_import_rows_total", **labels)

    assert grew("sale") == summary.sale_rows > 0
    assert grew("return") == summary.return_rows
    assert grew("without_customer") == summary.rows_without_customer
    assert grew("rejected") == summary.rows_rejected == 0


# --- health ----------------------------------------------------------------------------------------

def _app(settings, db, cache=None, **update):
    cfg = settings.model_copy(update={"slack_bot_token": None, "gorgias_webhook_secret": None, "gorgias_domain": None,
                                      **update})
    return build_web_app(cfg, db, ctx=ToolContext(db=db, settings=cfg, cache=cache or Cache(None)), background=False)


def test_health_says_the_version(settings, loaded):
    db, _ = loaded
    with TestClient(_app(settings, db)) as client:
        assert client.get("/health").json() == {"status": "ok", "version": version("customer-intelligence-bot")}


def test_ready_details_only_for_loopback_or_the_token(settings, loaded):
    db, fx = loaded
    app = _app(settings, db, metrics_token=SecretStr(TOKEN))
    with TestClient(app) as client:  # TestClient's client is "testclient": not loopback
        public = client.get("/health/ready")
        wrong = client.get("/health/ready", headers={"Authorization": "Bearer nope"})
        bearer = client.get("/health/ready", headers={"Authorization": f"Bearer {TOKEN}"})
    assert public.status_code == 200 and public.json()["database"] == "ok" and public.json()["failing"] == []
    assert public.json()["redis"] == "not configured" and public.json()["current_run_age_seconds"] > 0
    assert "current_run" not in public.json() and "latest_run" not in public.json()
    assert "current_run" not in wrong.json()
    assert bearer.json()["current_run"]["run_id"] == fx.current_run
    with ServedApp(app) as served:  # a real socket from 127.0.0.1
        local = httpx.get(served.url + "/health/ready")
        proxied = httpx.get(served.url + "/health/ready", headers={"X-Forwarded-For": "203.0.113.9"})
    assert local.json()["current_run"]["run_id"] == fx.current_run
    assert "current_run" not in proxied.json()


def test_metrics_need_the_token_from_elsewhere_when_it_is_set(settings, loaded):
    db, _ = loaded
    guarded = _app(settings, db, metrics_token=SecretStr(TOKEN))
    with TestClient(guarded) as client:
        refused = client.get("/metrics")
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert "cib_" not in refused.text
    assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain")
    assert scrape(allowed.text)
    with ServedApp(guarded) as served:
        assert httpx.get(served.url + "/metrics").status_code == 200
        assert httpx.get(served.url + "/metrics", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 401
    with TestClient(_app(settings, db)) as client:  # no token: open, as before
        assert client.get("/metrics").status_code == 200


def test_ready_reports_redis(settings, loaded):
    db, _ = loaded
    with TestClient(_app(settings, db, cache=Cache("redis://127.0.0.1:6379/0"))) as client:
        up = client.get("/health/ready")
    assert up.status_code == 200 and up.json()["redis"] == "ok"
    with TestClient(_app(settings, db, cache=Cache("redis://127.0.0.1:1/0"))) as client:
        started = time.perf_counter()
        down = client.get("/health/ready")
        seconds = time.perf_counter() - started
    assert down.status_code == 503 and down.json()["redis"] == "unreachable" and down.json()["failing"] == ["redis"]
    assert down.json()["database"] == "ok" and seconds < 1.0, seconds


class _HangingCache(Cache):
    def ping(self):
        time.sleep(3)
        return True


def test_ready_answers_within_a_second_naming_what_hangs(settings, loaded):
    db, _ = loaded
    with TestClient(_app(settings, db, cache=_HangingCache(None))) as client:
        started = time.perf_counter()
        ready = client.get("/health/ready")
        seconds = time.perf_counter() - started
    assert ready.status_code == 503 and ready.json()["failing"] == ["redis"] and ready.json()["redis"] == "timeout"
    assert seconds < 1.0, seconds


def test_ready_without_a_run_names_it(settings, fresh_db):
    with TestClient(_app(settings, fresh_db)) as client:
        ready = client.get("/health/ready")
    assert ready.status_code == 503 and ready.json()["failing"] == ["current_run"]
    assert ready.json()["current_run_age_seconds"] is None and "discover" in ready.json()["problem"]
