"""What `serve` tells operators: GET /health (liveness and version), GET /health/ready (database,
Redis and the current run's age within a second; details only with METRICS_TOKEN or from loopback)
and GET /metrics (Prometheus text from `observability.metrics` plus gauges read when scraped)."""
from __future__ import annotations

import asyncio
import hmac
import ipaddress
import logging
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from observability import metrics
from sql import query

if TYPE_CHECKING:
    from pydantic import SecretStr

    from analytics.cache import Cache
    from gorgias.service import GorgiasService
    from sql import Database

log = logging.getLogger("cib")

READY_WITHIN_SECONDS = 0.9   # readiness answers within a second, whatever hangs behind it
FIGURES_TIMEOUT = 0.5        # seconds a scrape or readiness waits for a pooled connection
PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"
PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-real-ip")


def package_version() -> str:
    try:
        return version("customer-intelligence-bot")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown"


# --- who may see what ------------------------------------------------------------------------------

def from_loopback(request) -> bool:
    """A client on this machine. A request a proxy forwarded is not, even though the proxy is."""
    if request.client is None or any(h in request.headers for h in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


def bears_token(request, token: SecretStr | None) -> bool:
    """`Authorization: Bearer <token>`, compared in constant time."""
    if token is None:
        return False
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(),
                                                              token.get_secret_value().encode())


# --- what the current run says ---------------------------------------------------------------------

def current_figures(db: Database) -> dict[str, Any] | None:
    """The current run's id, age, duration, customers and churn AUC (None: no published run)."""
    with db.cursor(timeout=FIGURES_TIMEOUT) as cur:
        cur.execute(query("runs.current_figures"))
        return cur.fetchone()


class CurrentRunCollector:
    """Gauges read from the current discovery run when /metrics is scraped, so every process
    sharing the database reports the run readers see (whoever published it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def collect(self):
        try:
            figures = current_figures(self.db)
        except Exception as exc:  # noqa: BLE001 - a scrape shows what it can
            log.debug("metrics: current run not read: %s", exc)
            return
        if figures is None:
            return
        for name, text, key in (
            ("cib_discovery_run_age_seconds", "Seconds since the current discovery run was published", "age_seconds"),
            ("cib_discovery_duration_seconds", "How long the current discovery run took", "duration_seconds"),
            ("cib_discovery_customers", "Customers profiled by the current discovery run", "customers"),
            ("cib_churn_backtest_auc", "The churn model's backtest AUC in the current discovery run", "churn_auc"),
        ):
            if figures.get(key) is not None:
                yield GaugeMetricFamily(name, text, value=float(figures[key]))


class GorgiasInboxCollector:
    """The Gorgias inbox depth by status, read when /metrics is scraped."""

    def __init__(self, gorgias: GorgiasService) -> None:
        self.gorgias = gorgias

    def collect(self):
        try:
            depth = self.gorgias.inbox_depth()
        except Exception as exc:  # noqa: BLE001 - a scrape shows what it can
            log.debug("metrics: Gorgias inbox not read: %s", exc)
            return
        family = GaugeMetricFamily("cib_gorgias_inbox_depth", "Gorgias events in the inbox by status "
                                   "(pending, processing, parked)", labels=["status"])
        for status, events in depth.items():
            family.add_metric([status], events)
        yield family


class _ProcessMetrics:
    """The process-wide registry as one collector of this app's registry."""

    def collect(self):
        return metrics.REGISTRY.collect()


def app_registry(db: Database, gorgias: GorgiasService | None = None) -> CollectorRegistry:
    """What one web app's /metrics renders: the process's counters plus gauges read from its database."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_ProcessMetrics())
    registry.register(CurrentRunCollector(db))
    if gorgias is not None:
        registry.register(GorgiasInboxCollector(gorgias))
    return registry


# --- readiness -------------------------------------------------------------------------------------

def shopify_sync_age(db: Database) -> int | None:
    """Seconds since the last Shopify sync finished (None: never synced)."""
    with db.cursor(timeout=FIGURES_TIMEOUT) as cur:
        cur.execute(query("shopify.latest_state"))
        row = cur.fetchone()
    return round(row["age_seconds"]) if row and row["age_seconds"] is not None else None


def check_readiness(db: Database, cache: Cache | None, body: dict, failing: list,
                    shopify: bool = False) -> tuple[int, dict]:
    """(status, details for loopback or token holders); fills `body` (what anyone may see) and
    `failing` as it goes, so a caller that stops waiting still has what was found, and
    `body["checking"]` names the component under check."""
    from bot.dashboard import run_status
    from sql.database import FAST_TIMEOUT

    body.update({"database": "ok", "redis": "not configured", "current_run_age_seconds": None})
    details: dict[str, Any] = {}
    body["checking"] = "database"
    try:
        if not db.reachable():  # answer 503 at once rather than wait out the pool's timeout
            raise ConnectionError(f"no database connection within {FAST_TIMEOUT} s")
        figures = current_figures(db)
    except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
        log.warning("readiness: database check failed: %s", exc)
        body["database"] = "unreachable"
        failing.append("database")
        figures = None
    else:
        if figures is None:
            failing.append("current_run")
            body["problem"] = "no published discovery run yet (python app.py discover)"
        else:
            body["current_run_age_seconds"] = round(figures["age_seconds"])
        try:
            details["current_run"], details["latest_run"] = run_status(db)
        except Exception as exc:  # noqa: BLE001 - details are a bonus
            log.warning("readiness: run details not read: %s", exc)
        if shopify:  # how fresh the orders are: a stale sync is shown, not a reason to take traffic away
            try:
                body["shopify_sync_age_seconds"] = shopify_sync_age(db)
            except Exception as exc:  # noqa: BLE001 - readiness reports, it does not raise
                log.warning("readiness: Shopify sync state not read: %s", exc)
    body["checking"] = "redis"
    reachable = cache.ping() if cache is not None else None
    if reachable is not None:
        body["redis"] = "ok" if reachable else "unreachable"
        if not reachable:
            failing.append("redis")
    body.pop("checking", None)
    return (503 if failing else 200), details


def health_routes(settings, db: Database, cache: Cache | None, gorgias: GorgiasService | None) -> list[Route]:
    token = settings.metrics_token
    registry = app_registry(db, gorgias)
    shopify = settings.shopify_configured
    running = package_version()

    async def health(request):
        return JSONResponse({"status": "ok", "version": running})

    async def ready(request):
        found: dict[str, Any] = {}
        failing: list[str] = []
        try:
            status, details = await asyncio.wait_for(
                run_in_threadpool(check_readiness, db, cache, found, failing, shopify), READY_WITHIN_SECONDS)
        except asyncio.TimeoutError:
            # Copies: the check's thread may still be writing to its dict and list.
            found, failing = dict(found), list(failing)
            component = found.pop("checking", "database")
            log.warning("readiness: the %s check did not answer within %.1f s", component, READY_WITHIN_SECONDS)
            status, details = 503, {}
            found[component] = "timeout"
            failing.append(component)
        body = {"status": "ready" if status == 200 else "unavailable", "version": running, **found,
                "failing": failing}
        if details and (from_loopback(request) or bears_token(request, token)):
            body.update(details)
        return JSONResponse(body, status_code=status)

    async def metrics_text(request):
        if token is not None and not (from_loopback(request) or bears_token(request, token)):
            return Response("metrics need Authorization: Bearer <METRICS_TOKEN>\n", status_code=401,
                            headers={"WWW-Authenticate": "Bearer"}, media_type="text/plain")
        # In a thread: the collectors read the database.
        return Response(await run_in_threadpool(generate_latest, registry), media_type=PROMETHEUS_TEXT)

    return [Route("/health", health), Route("/health/ready", ready), Route("/metrics", metrics_text)]
