"""The one Starlette app `python app.py serve` runs, wired from the composition root's services:
/health, /health/ready, /metrics, POST /slack/events (HTTP mode), the Gorgias webhook, the Shopify
webhook and, with MCP_TOKEN, MCP over streamable HTTP at /mcp, with the discovery scheduler, the
Gorgias worker, the Shopify sync and Socket Mode started in its lifespan."""
from __future__ import annotations

import contextlib
import logging
import time
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool

from analytics.context import after_discovery_run
from analytics.core import ToolContext
from observability import metrics
from observability.logs import CorrelationMiddleware
from settings import Settings
from sql import Database
from wiring import Services, build_services
from wiring.health import health_routes

if TYPE_CHECKING:
    from slack_bolt import App

    from gorgias.service import GorgiasService

log = logging.getLogger("cib")


def gorgias_service(services: Services) -> GorgiasService:
    """The Gorgias integration with its REST client (None when not configured: intake only) and
    the Claude client for drafts."""
    from gorgias.client import GorgiasClient, GorgiasConfigError
    from gorgias.service import GorgiasService

    settings = services.settings
    try:
        client = GorgiasClient(settings)
    except GorgiasConfigError as exc:
        log.warning("Gorgias notes are not posted: %s (webhooks are still stored)", exc)
        client = None
    return GorgiasService(settings, services.db, services.ctx, client=client, claude=services.claude)


REVIEW_CHECK_MINUTES = 60


def _start_review_poster(slack_app, ctx: ToolContext):
    """Hourly: post the customer review to the channels subscribed to it that have not had the due
    period's yet (each period once across instances: bot.digest claims it), then the alerts they may
    have now (bot.alerts: recorded once, held in quiet hours and beyond the daily cap). Returns the stop."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from bot.alerts import post_due_alerts
    from bot.digest import post_due_reviews

    def post() -> None:
        try:
            posted = post_due_reviews(slack_app.client, ctx)
            if posted:
                log.info("customer review posted: %s", {k: len(v) for k, v in posted.items()})
        except Exception:  # noqa: BLE001 - the next hour tries again; the server keeps serving
            log.exception("posting the customer review failed")
        try:
            alerted = post_due_alerts(slack_app.client, ctx)
            if alerted:
                log.info("alerts posted: %s", {k: len(v) for k, v in alerted.items()})
        except Exception:  # noqa: BLE001 - as above
            log.exception("finding or posting alerts failed")

    poster = BackgroundScheduler(daemon=True)
    poster.add_job(post, "interval", minutes=REVIEW_CHECK_MINUTES, id="customer-review", coalesce=True,
                   max_instances=1)
    poster.start()
    return lambda: poster.shutdown(wait=False)


def build_web_app(settings: Settings, db: Database, *, ctx: ToolContext | None = None, slack_app: App | None = None,
                  background: bool = True, scheduler: bool | None = None, services: Services | None = None) -> Starlette:
    """The one Starlette app `serve` runs: /health, /health/ready, /metrics, POST /slack/events
    (HTTP mode), the Gorgias webhook when configured. Its lifespan starts the discovery scheduler,
    the Gorgias worker and, with SLACK_APP_TOKEN, Socket Mode. `bot` and `gorgias` never import each
    other; this is where they meet. Tests pass their own `slack_app`, `background=False` (nothing
    started) or `scheduler=False` (everything but the discovery scheduler)."""
    if services is None:
        services = build_services(settings, db) if ctx is None else Services(settings=settings, db=db, ctx=ctx)
    ctx = services.ctx
    routes = []
    if slack_app is None and settings.slack_bot_token is not None:
        from bot.app import build_slack_app, web_client

        slack_app = build_slack_app(settings, db, client=web_client(settings), ctx=ctx,
                                    router_factory=services.router)
    if slack_app is not None and settings.slack_signing_secret is not None:
        from bot.http import slack_routes

        routes += slack_routes(slack_app)
    gorgias = None
    if settings.gorgias_webhook_secret or settings.gorgias_domain:
        gorgias = gorgias_service(services)
        routes += gorgias.routes()

    shopify = None
    from wiring.shopify import ShopifyIntegration

    if ShopifyIntegration.wanted(settings):
        shopify = ShopifyIntegration(settings, db, ctx.cache)
        routes += shopify.routes()

    routes += health_routes(settings, db, ctx.cache, gorgias)
    mcp = None
    if settings.mcp_token is not None:
        from mcp_server.http import mcp_http

        mcp = mcp_http(ctx, settings.mcp_token.get_secret_value(),
                       requests_per_minute=settings.mcp_requests_per_minute)
        routes += mcp.routes

    @contextlib.asynccontextmanager
    async def lifespan(app):
        started = []
        if background and (scheduler is None or scheduler):
            from discovery.scheduler import DiscoveryScheduler

            discovery_scheduler = DiscoveryScheduler(settings, db, lambda *a, **k: after_discovery_run(ctx))
            discovery_scheduler.start()
            started.append(discovery_scheduler.shutdown)
        if background:
            if gorgias is not None:
                gorgias.start()
                started.append(gorgias.stop)
            if shopify is not None:  # the webhook applier, and the scheduled sync unless scheduler=False
                shopify.start(with_scheduler=scheduler is None or scheduler)
                started.append(shopify.stop)
            if slack_app is not None and settings.slack_app_token is not None:
                from bot.app import socket_mode_handler

                handler = socket_mode_handler(slack_app, settings)
                await run_in_threadpool(handler.connect)
                started.append(handler.close)
                log.info("Slack Socket Mode connected")
            if slack_app is not None and hasattr(slack_app, "bot_deps"):
                from bot.answering import RetrySweep

                sweep = RetrySweep(slack_app)  # questions whose answer could not be produced
                sweep.start()
                started.append(sweep.stop)
            if slack_app is not None and (scheduler is None or scheduler):
                started.append(_start_review_poster(slack_app, ctx))
        try:
            # MCP sessions live in the session manager's task group: it runs for the app's lifetime
            # (also with background=False, since it serves requests rather than working alone).
            async with contextlib.AsyncExitStack() as serving:
                if mcp is not None:
                    await serving.enter_async_context(mcp.session_manager.run())
                yield
        finally:
            for stop in reversed(started):
                try:
                    await run_in_threadpool(stop)
                except Exception:  # noqa: BLE001 - keep shutting the rest down
                    log.exception("shutdown step failed")

    class MetricsMiddleware:
        """Request counts and latencies by route path (not raw URL, to keep label sets small)."""

        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            started_at, status = time.perf_counter(), {"code": 500}

            async def send_and_record(message):
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await self.inner(scope, receive, send_and_record)
            finally:
                path = scope["path"] if any(r.path == scope["path"] for r in routes) else "other"
                metrics.HTTP_REQUESTS.labels(path, str(status["code"])).inc()
                metrics.HTTP_SECONDS.labels(path).observe(time.perf_counter() - started_at)

    web = Starlette(routes=routes, lifespan=lifespan)
    web.add_middleware(MetricsMiddleware)
    web.add_middleware(CorrelationMiddleware)   # outermost: the metrics code logs under the id too
    return web
