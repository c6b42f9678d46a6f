"""Slack's HTTP mode as a Starlette route: POST /slack/events through Bolt's Starlette adapter.
Bolt's sync dispatch (signature check, the listener's ack) runs in a worker thread so one
slow request cannot stall the event loop that also serves health checks and Gorgias."""
from __future__ import annotations

import hashlib
import hmac
import logging
import time
from urllib.parse import parse_qsl

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import SlackRequestHandler, to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from observability import metrics
from sql.safe_input import BadBody, loads_bounded

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1_000_000


def listener_name(body: dict) -> str:
    """A short, bounded label for what a Slack request was (for the ack-time metric)."""
    if body.get("command"):
        return str(body["command"])[:40]
    if body.get("type") == "event_callback":
        event = body.get("event") or {}
        return str(event.get("type", "event"))[:40]
    actions = body.get("actions") or []
    if actions:
        action_id = str(actions[0].get("action_id", "action"))
        return action_id.rstrip("0123456789").rstrip("_")[:40]
    return str(body.get("type") or "other")[:40]  # Slack's payloads are far smaller; refuse anything absurd early


def slack_routes(app: App) -> list[Route]:
    handler = SlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared is not None and not declared.strip().isdigit():
            return Response("invalid Content-Length", status_code=400)
        if int(declared or 0) > MAX_BODY_BYTES:
            return Response("request body too large", status_code=413)
        started = time.perf_counter()
        body = await _read_capped(request)
        if body is None:  # chunked, without a Content-Length: the cap is checked while reading
            return Response("request body too large", status_code=413)
        refused = _refuse(handler.app, request, body)
        if refused is not None:
            return refused
        bolt_request = to_bolt_request(request, body)
        bolt_response = await run_in_threadpool(handler.app.dispatch, bolt_request)
        if bolt_response.status == 200:
            metrics.SLACK_ACK_SECONDS.labels(listener_name(bolt_request.body)).observe(time.perf_counter() - started)
        return to_starlette_response(bolt_response)

    return [Route("/slack/events", slack_events, methods=["POST"], name="slack_events")]


def signature_valid(secret: str, body: bytes, timestamp: str, signature: str, now: float | None = None) -> bool:
    """Slack's v0 signature over the raw bytes (HMAC-SHA256 of "v0:{ts}:{body}"), timestamp within
    five minutes. Never raises, whatever the headers hold."""
    timestamp = timestamp.strip()
    if not secret or not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > 300:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body,
                                hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.strip().encode("utf-8", "replace"))


def _refuse(app: App, request: Request, body: bytes) -> Response | None:
    """The signature checked on the raw bytes, then the body's shape, before Bolt parses anything:
    a stranger's malformed body is a 401/400 with one log line, never a traceback."""
    if getattr(app, "_request_verification_enabled", True):
        if not signature_valid(getattr(app, "_signing_secret", "") or "", body,
                               request.headers.get("x-slack-request-timestamp", ""),
                               request.headers.get("x-slack-signature", "")):
            log.info("slack request refused: invalid signature (%d bytes)", len(body))
            return Response("invalid request signature", status_code=401)
    try:
        _check_shape(body, request.headers.get("content-type", ""))
    except BadBody as exc:
        log.info("slack request refused: %s (%d bytes)", exc, len(body))
        return Response(f"bad request: {exc}", status_code=400)
    return None


def _check_shape(body: bytes, content_type: str) -> None:
    """What Bolt will assume of the body (its parse_body: JSON when the type says so or the body
    starts with '{', else a form whose `payload`, if any, is JSON): an object, with an object as
    its `event` and a list of objects as its `actions`."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None
    if not text:
        return
    if content_type.split(";")[0].strip().lower() == "application/json" or text.startswith("{"):
        parsed = loads_bounded(body)
    elif "payload" in text:
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" not in form:
            return
        parsed = loads_bounded(form["payload"])
    else:
        return  # a slash command or ssl_check: flat form fields
    if not isinstance(parsed, dict):
        raise BadBody("body is not a JSON object")
    if "event" in parsed and not isinstance(parsed["event"], dict):
        raise BadBody("'event' is not an object")
    actions = parsed.get("actions")
    if actions is not None and not (isinstance(actions, list) and all(isinstance(a, dict) for a in actions)):
        raise BadBody("'actions' is not a list of objects")


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None as soon as it grows past MAX_BODY_BYTES."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)
