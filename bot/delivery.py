"""Posting paged Block Kit messages to Slack: the first page replaces a placeholder when there is
one, `invalid_blocks` falls back to older blocks (and a PNG for a chart), and a message that
still fails is replaced by plain text, so a placeholder is never left behind."""
from __future__ import annotations

import logging
from typing import Any, Callable

from slack_sdk.errors import SlackApiError

from observability import metrics
from bot.views import blocks as bk
from bot.views.answer import downgrade

log = logging.getLogger(__name__)


def _send(client, channel: str, blocks: list[bk.Block], *, thread_ts: str | None, replace_ts: str | None,
          text: str) -> dict[str, Any]:
    if replace_ts:
        return client.chat_update(channel=channel, ts=replace_ts, blocks=blocks, text=text).data
    kwargs = {"thread_ts": thread_ts} if thread_ts else {}
    return client.chat_postMessage(channel=channel, blocks=blocks, text=text, **kwargs).data


class PartlyDelivered(Exception):
    """A later page failed after the first was delivered (and replaced the placeholder): the
    caller must post its error as a new message, not over the delivered page."""


def post_pages(client, channel: str, pages: list[list[bk.Block]], *, thread_ts: str | None = None,
               replace_ts: str | None = None, chart_png: Callable[[], bytes | None] | None = None) -> list[dict[str, Any]]:
    """Send each page; returns the Web API responses. `chart_png` draws the fallback image when a
    chart had to be dropped. A failure after the first page raises PartlyDelivered."""
    responses: list[dict[str, Any]] = []
    for number, page in enumerate(pages):
        try:
            _post_page(client, channel, page, number, responses, thread_ts=thread_ts, replace_ts=replace_ts,
                       chart_png=chart_png)
        except Exception as exc:
            if responses:
                raise PartlyDelivered(f"page {number + 1} of {len(pages)} failed") from exc
            raise
    return responses


def _post_page(client, channel: str, page: list[bk.Block], number: int, responses: list[dict[str, Any]], *,
               thread_ts: str | None, replace_ts: str | None, chart_png: Callable[[], bytes | None] | None) -> None:
    target = replace_ts if number == 0 else None
    text = bk.fallback_text(page)
    try:
        responses.append(_send(client, channel, page, thread_ts=thread_ts, replace_ts=target, text=text))
        return
    except SlackApiError as exc:
        if exc.response.get("error") != "invalid_blocks":
            raise
        log.info("Slack rejected the blocks (%s); sending the fallback", exc.response.get("errors"))
    metrics.SLACK_FALLBACKS.inc()
    older, dropped_chart = downgrade(page)
    try:
        responses.append(_send(client, channel, older, thread_ts=thread_ts, replace_ts=target, text=text))
    except SlackApiError as exc:
        if exc.response.get("error") != "invalid_blocks":
            raise
        responses.append(_send(client, channel, bk.sections(text), thread_ts=thread_ts, replace_ts=target, text=text))
    if dropped_chart and chart_png is not None:
        try:
            upload_png(client, channel, chart_png(), thread_ts=thread_ts or responses[-1].get("ts"))
        except Exception:  # noqa: BLE001 - the answer is already posted; losing its picture
            # (no files:write scope, upload refused) must not turn it into an error message.
            metrics.SLACK_HANDLED.labels("chart_upload", "error").inc()
            log.warning("could not upload the forecast chart PNG to %s", channel, exc_info=True)


def upload_png(client, channel: str, png: bytes | None, *, thread_ts: str | None, title: str = "Forecast chart") -> None:
    if not png:
        return
    kwargs = {"thread_ts": thread_ts} if thread_ts else {}
    client.files_upload_v2(channel=channel, content=png, filename="forecast.png", title=title, **kwargs)


def replace_with_error(client, channel: str, placeholder_ts: str | None, thread_ts: str | None, message: str) -> None:
    """Turn the placeholder into the error message (or post it when there is none); never raises."""
    try:
        if placeholder_ts:
            client.chat_update(channel=channel, ts=placeholder_ts, text=message, blocks=bk.sections(message))
        else:
            kwargs = {"thread_ts": thread_ts} if thread_ts else {}
            client.chat_postMessage(channel=channel, text=message, **kwargs)
    except Exception:  # noqa: BLE001 - reporting an error must not raise another
        log.exception("could not report an error to Slack channel %s", channel)
