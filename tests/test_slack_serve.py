"""The web app `serve` runs: health and readiness, metrics, which routes are mounted for which
settings, and clear start-up errors for a half-configured Slack."""
from __future__ import annotations

import httpx
import pytest
from pydantic import SecretStr

from analytics.core import ToolContext
from wiring.web import build_web_app
from bot.app import SlackNotConfigured, build_slack_app, web_client
from tests.analytics_fixture import analytics_db, loaded  # noqa: F401 - fixtures
from tests.test_slack_support import ServedApp


def _serve(settings, db):
    return ServedApp(build_web_app(settings, db, ctx=ToolContext(db=db, settings=settings), background=False))


def test_ready_needs_a_published_run(settings, fresh_db):
    with _serve(settings, fresh_db) as served:
        assert httpx.get(served.url + "/health").json()["status"] == "ok"
        ready = httpx.get(served.url + "/health/ready")
        assert ready.status_code == 503
        assert ready.json()["database"] == "ok" and "discover" in ready.json()["problem"]
        # No Slack settings: no Slack endpoint.
        assert httpx.post(served.url + "/slack/events", content="{}").status_code == 404


def test_ready_with_the_current_run(settings, loaded):
    db, fx = loaded
    with _serve(settings, db) as served:
        ready = httpx.get(served.url + "/health/ready")
        assert ready.status_code == 200
        assert ready.json()["current_run"]["run_id"] == fx.current_run
        metrics = httpx.get(served.url + "/metrics")
        assert metrics.headers["content-type"].startswith("text/plain")
        assert 'cib_http_requests_total{path="/health/ready",status="200"}' in metrics.text


def test_unreachable_database_is_not_ready(settings, fresh_database_url):
    from sql.database import Database

    db = Database(fresh_database_url())
    app = build_web_app(settings, db, ctx=ToolContext(db=db, settings=settings), background=False)
    db.close()  # the pool is gone: every query fails
    with ServedApp(app) as served:
        ready = httpx.get(served.url + "/health/ready")
        assert ready.status_code == 503 and ready.json()["database"] == "unreachable"


def test_gorgias_webhook_mounted_when_configured(settings, db):
    configured = settings.model_copy(update={"gorgias_webhook_secret": SecretStr("hook-secret")})
    app = build_web_app(configured, db, ctx=ToolContext(db=db, settings=configured), background=False)
    assert "/gorgias/webhook" in {route.path for route in app.routes}
    plain = build_web_app(settings, db, ctx=ToolContext(db=db, settings=settings), background=False)
    assert "/gorgias/webhook" not in {route.path for route in plain.routes}


def test_half_configured_slack_names_the_missing_setting(settings, db):
    with pytest.raises(SlackNotConfigured, match="SLACK_BOT_TOKEN"):
        web_client(settings)
    http_mode = settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-1")})
    with pytest.raises(SlackNotConfigured, match="SLACK_SIGNING_SECRET"):
        build_slack_app(http_mode, db, client=web_client(http_mode), router_factory=lambda: None, run_tool=lambda *a: None)
    socket_mode = http_mode.model_copy(update={"slack_app_token": SecretStr("xapp-1")})
    assert build_slack_app(socket_mode, db, client=web_client(socket_mode), router_factory=lambda: None, run_tool=lambda *a: None)


def test_api_url_and_secrets(settings):
    configured = settings.model_copy(update={"slack_bot_token": SecretStr("xoxb-secret-token"),
                                             "slack_api_url": "http://127.0.0.1:9/api"})
    client = web_client(configured)
    assert client.base_url == "http://127.0.0.1:9/api/"
    assert "xoxb-secret-token" not in repr(configured)
    assert any(type(h).__name__ == "RateLimitErrorRetryHandler" for h in client.retry_handlers)
