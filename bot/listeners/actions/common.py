"""Where a button's answer goes: the thread of the message that holds the button."""
from __future__ import annotations


def message_location(body: dict) -> tuple[str | None, str | None]:
    """(channel id, thread ts) for a click on a message button; (None, None) outside messages."""
    container = body.get("container") or {}
    channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
    message = body.get("message") or {}
    thread_ts = message.get("thread_ts") or container.get("thread_ts") or message.get("ts") or container.get("message_ts")
    return channel, thread_ts
