"""`POST /gorgias/webhook`: authenticate, size-limit, validate, store in the inbox, answer 200.

Nothing is processed here: the event is made durable first so a crash after the 200 loses
nothing, and the worker is woken to drain it. Unauthenticated or invalid bodies store nothing.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import math
import time
from typing import Callable

import psycopg
from starlette.requests import Request
from starlette.responses import JSONResponse

from analytics.limits import RateLimiter
from gorgias.inbox import IntakeWriter
from observability import metrics
from gorgias.payload import PayloadError, parse_event

log = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


def verify_token(secret: str, token: str | None) -> bool:
    """Constant-time comparison of the X-Webhook-Token header with the shared secret."""
    return token is not None and hmac.compare_digest(token.encode(), secret.encode())


def verify_signature(secret: str, body: bytes, header: str) -> bool:
    """`X-Signature: sha256=<hex HMAC-SHA256 of the body>` keyed with the same secret."""
    scheme, _, given = header.partition("=")
    if scheme.strip().lower() != "sha256" or not given:
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, given.strip().lower())


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _TooLarge(int(declared))
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:  # a lying or absent Content-Length still cannot make us buffer more
            raise _TooLarge(size)
        chunks.append(chunk)
    return b"".join(chunks)


def make_webhook_endpoint(settings, writer: IntakeWriter, on_stored: Callable[[], None],
                          observe: Callable[[str, float], None] | None = None,
                          per_source: RateLimiter | None = None):
    """The Starlette endpoint. `on_stored` wakes the worker; `observe(outcome, seconds)` feeds metrics;
    `per_source` limits deliveries per client address (429 with Retry-After beyond it)."""
    limit = settings.gorgias_max_body_bytes

    def answer(outcome: str, status: int, started: float, **body) -> JSONResponse:
        seconds = time.perf_counter() - started
        if observe:
            observe(outcome, seconds)
        # Server-Timing lets a caller (the benchmark) tell our time from the network's and its own.
        return JSONResponse({"status": outcome, **body}, status_code=status,
                            headers={"Server-Timing": f"intake;dur={seconds * 1000:.2f}"})

    async def webhook(request: Request) -> JSONResponse:
        started = time.perf_counter()
        if per_source is not None:
            # First, before the token or the body: a flood costs one counter check per request.
            source = request.client.host if request.client else "unknown"
            wait = await per_source.check_async(source)
            if wait > 0:
                metrics.RATE_LIMITED.labels(per_source.name).inc()
                log.warning("gorgias webhook rate-limited: %s exceeded %d deliveries per %g s",
                            source, per_source.limit, per_source.window)
                response = answer("rate_limited", 429, started, error="too many deliveries; retry later")
                response.headers["Retry-After"] = str(max(1, math.ceil(wait)))
                return response
        if settings.gorgias_webhook_secret is None:
            return answer("not_configured", 503, started,
                          error="the Gorgias webhook is not configured: set GORGIAS_WEBHOOK_SECRET")
        secret = settings.gorgias_webhook_secret.get_secret_value()
        if not verify_token(secret, request.headers.get("x-webhook-token")):
            log.warning("gorgias webhook rejected: missing or wrong X-Webhook-Token from %s",
                        request.client.host if request.client else "?")
            return answer("unauthorized", 401, started, error="missing or wrong X-Webhook-Token")
        try:
            body = await _read_limited(request, limit)
        except _TooLarge as exc:
            return answer("too_large", 413, started,
                          error=f"body of {exc.args[0]} bytes exceeds the limit of {limit} bytes")
        signature = request.headers.get("x-signature")
        if signature is not None and not verify_signature(secret, body, signature):
            log.warning("gorgias webhook rejected: X-Signature does not match the body")
            return answer("unauthorized", 401, started, error="X-Signature does not match the body")
        try:
            event = parse_event(body)
        except PayloadError as exc:
            log.info("gorgias webhook rejected: %s", exc)
            return answer("invalid", exc.status, started, error=str(exc))
        try:
            event_id, inserted = await asyncio.wrap_future(writer.submit(event))
        except psycopg.DataError as exc:  # this event's own values: delivering it again cannot help
            log.warning("gorgias webhook rejected: ticket %s message %s has a value the database refuses: %s",
                        event.ticket_id, event.message_id, str(exc).splitlines()[0])
            return answer("invalid", 422, started, error="a value in the event cannot be stored: "
                          + str(exc).splitlines()[0][:200])
        except Exception as exc:
            log.error("gorgias webhook: storing ticket %s message %s failed: %s",
                      event.ticket_id, event.message_id, exc)
            return answer("unavailable", 503, started, error="could not store the event; deliver it again later")
        if inserted:
            on_stored()
            # Links this request's correlation id to the worker's (gorgias-event-<event id>).
            log.info("gorgias webhook queued ticket %s message %s as event %s",
                     event.ticket_id, event.message_id, event_id)
        else:
            log.info("gorgias duplicate delivery of ticket %s message %s (event %s)",
                     event.ticket_id, event.message_id, event_id)
        return answer("queued" if inserted else "duplicate", 200, started, event_id=event_id)

    return webhook
