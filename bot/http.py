"""Slack's HTTP mode as a Starlette route: POST /slack/events through Bolt's Starlette adapter.
Bolt's sync dispatch (signature check, the listener's ack) runs in a worker thread so one
slow request cannot stall the event loop that also serves health checks and Gorgias."""
from __future__ import annotations

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import SlackRequestHandler, to_bolt_request, to_starlette_response
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

MAX_BODY_BYTES = 1_000_000  # Slack's payloads are far smaller; refuse anything absurd early


def slack_routes(app: App) -> list[Route]:
    handler = SlackRequestHandler(app)

    async def slack_events(request: Request) -> Response:
        if int(request.headers.get("content-length") or 0) > MAX_BODY_BYTES:
            return Response("request body too large", status_code=413)
        body = await request.body()
        bolt_response = await run_in_threadpool(handler.app.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    return [Route("/slack/events", slack_events, methods=["POST"], name="slack_events")]
