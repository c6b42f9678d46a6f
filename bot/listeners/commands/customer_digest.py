"""/customer-digest weekly|daily|off [#channel]: subscribe a channel (this one by default) to the
customer review and alerts the bot posts unasked, or stop them. Only people and channels on the allow-lists."""
from __future__ import annotations

import re

from bot.access import is_allowed, not_enabled_message
from bot.subscriptions import set_subscription

USAGE = "Use `/customer-digest weekly`, `/customer-digest daily` or `/customer-digest off`, optionally with a #channel."
_CHANNEL = re.compile(r"<#([A-Z0-9]+)(?:\|[^>]*)?>")
_WORDS = {"weekly": "weekly", "daily": "daily", "off": "off", "stop": "off", "unsubscribe": "off"}


def handle(deps, command: dict) -> str:
    words = (command.get("text") or "").split()
    channel = command.get("channel_id")
    named = _CHANNEL.search(command.get("text") or "")
    if named:
        channel = named.group(1)
        words = [w for w in words if not _CHANNEL.fullmatch(w)]
    choice = _WORDS.get(words[0].lower() if words else "")
    if choice is None:
        return USAGE if is_allowed(deps.settings, channel, command.get("user_id")) else not_enabled_message(channel)
    return set_subscription(deps, channel, command.get("user_id"), choice)


def register(app, deps) -> None:
    def customer_digest(ack, command):
        ack(text=handle(deps, command))

    app.command("/customer-digest")(customer_digest)
