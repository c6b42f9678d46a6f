"""The Bolt app factory: a Slack app from settings, with its Web API client, middleware and
listeners. HTTP mode is served by app.py's web app at POST /slack/events; Socket Mode (when
SLACK_APP_TOKEN is set) by `socket_mode_handler`."""
from __future__ import annotations

import functools
import logging
import math
from typing import TYPE_CHECKING, Callable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
)

from analytics.core import ToolContext, ToolResult
from analytics.router import Router
from analytics.tools.registry import run_tool as registry_run_tool
from bot.deps import BotDeps
from bot.limits import QuestionLimits
from bot.listeners import register_listeners
from observability import metrics
from observability.logs import ContextExecutor, correlated, safe_correlation_id
from sql import Database

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)
DEFAULT_API_URL = "https://slack.com/api/"
LISTENER_THREADS = 64


class SlackNotConfigured(Exception):
    """A Slack setting needed for the chosen mode is missing; the message names it."""


def web_client(settings) -> WebClient:
    """The one Slack Web API client: base URL from SLACK_API_URL, Retry-After honoured on
    `ratelimited` (429), transient connection errors retried."""
    if settings.slack_bot_token is None:
        raise SlackNotConfigured("SLACK_BOT_TOKEN is not set (the bot's xoxb- token)")
    base_url = settings.slack_api_url or DEFAULT_API_URL
    if not base_url.endswith("/"):
        base_url += "/"
    client = WebClient(token=settings.slack_bot_token.get_secret_value(), base_url=base_url,
                       timeout=int(math.ceil(settings.slack_timeout_seconds)))
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))
    client.retry_handlers.append(ConnectionErrorRetryHandler(max_retry_count=2))
    return client


class CorrelatedApp(App):
    """Bolt's App with every Slack request (HTTP or Socket Mode) under its own correlation id: the
    event id when Slack gives one (its retries then share the id), else a fresh one."""

    def dispatch(self, req):
        body = req.body if isinstance(req.body, dict) else {}
        with correlated(safe_correlation_id(body.get("event_id"), "slack")):
            return super().dispatch(req)


def build_slack_app(settings: Settings, db: Database, *, client: WebClient, ctx: ToolContext | None = None,
                    router_factory: Callable[[], Router] | None = None,
                    run_tool: Callable[[str, dict], ToolResult] | None = None) -> App:
    """A configured Bolt app on the Web API `client` (see `web_client`). The composition root passes
    the process's router; without one the offline router answers, and the tools run on `ctx`.
    Tests pass a fake router or tool runner."""
    socket_mode = settings.slack_app_token is not None
    if settings.slack_signing_secret is None and not socket_mode:
        raise SlackNotConfigured("SLACK_SIGNING_SECRET is not set (needed to verify Slack's HTTP requests; "
                                 "or set SLACK_APP_TOKEN for Socket Mode)")
    if run_tool is None:
        run_tool = functools.partial(registry_run_tool, ctx)
    if router_factory is None:
        router_factory = functools.partial(Router, ctx)
    deps = BotDeps(settings=settings, db=db, ctx=ctx, router_factory=router_factory, run_tool=run_tool,
                   limits=QuestionLimits(settings, ctx.cache if ctx is not None else None))
    app = CorrelatedApp(
        client=client,
        # Socket Mode requests are not signed; HTTP requests always are and are always verified.
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
        request_verification_enabled=settings.slack_signing_secret is not None,
        token_verification_enabled=False,
        # Every slow step is a lazy listener, so each ack function can run right in the request's
        # thread and the response leaves as soon as it returns: no executor hop and no polling
        # for the ack (Bolt's other mode polls every 10 ms), which keeps acks fast under bursts.
        process_before_response=True,
        ignoring_self_events_enabled=True,
        # The lazy listeners' threads; most of them wait on Slack or on an answer slot (deps.py).
        # They run in the request's context, so their log lines carry its correlation id.
        listener_executor=ContextExecutor(max_workers=LISTENER_THREADS, thread_name_prefix="slack-listener"),
    )
    app.use(_count_requests)
    register_listeners(app, deps)
    app.error(_log_error)
    app.bot_deps = deps  # type: ignore[attr-defined]  # for the web app's readiness and the console
    return app


def _count_requests(body, next):  # noqa: A002 - Bolt's name
    kind = body.get("type") or ("slash_command" if body.get("command") else "unknown")
    metrics.SLACK_REQUESTS.labels(str(kind), _request_type(body) or str(kind)).inc()
    return next()


def _request_type(body) -> str | None:
    """The event type, command or first action's kind: sets Slack bounds (requests are signed), so
    the label stays small."""
    if isinstance(body.get("event"), dict):
        return body["event"].get("type")
    if body.get("command"):
        return body["command"]
    actions = body.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return actions[0].get("type")
    return None


def _log_error(error, body, logger):
    # Errors are logged with context; the person sees a short message from the listener itself.
    log.error("Slack listener error (%s): %s", body.get("type") or body.get("command"), error, exc_info=error)


def socket_mode_handler(app: App, settings):
    """The Socket Mode handler for `app` (call `.connect()` to start in the background, `.close()`)."""
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    if settings.slack_app_token is None:
        raise SlackNotConfigured("SLACK_APP_TOKEN is not set (the app-level xapp- token with connections:write)")
    return SocketModeHandler(app, app_token=settings.slack_app_token.get_secret_value(), web_client=app.client)
