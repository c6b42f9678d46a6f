"""Slack's HTTP mode as a Starlette route: POST /slack/events through Bolt's Starlette adapter.
Bolt's sync dispatch (signature check, the listener's ack) runs in a worker thread so one
slow request cannot stall the event loop that also serves health checks and Gorgias."""
from __future__ import annotations

import time

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import SlackRequestHandler, to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.metrics import METRICS

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
        bolt_request = to_bolt_request(request, body)
        bolt_response = await run_in_threadpool(handler.app.dispatch, bolt_request)
        if bolt_response.status == 200:
            METRICS.observe("cib_slack_ack_seconds", time.perf_counter() - started,
                            listener=listener_name(bolt_request.body))
        return to_starlette_response(bolt_response)

    return [Route("/slack/events", slack_events, methods=["POST"], name="slack_events")]


async def _read_capped(request: Request) -> bytes | None:
    """The body, or None as soon as it grows past MAX_BODY_BYTES."""
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        parts.append(chunk)
    return b"".join(parts)
