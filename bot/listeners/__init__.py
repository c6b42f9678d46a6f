"""Every Slack listener, one small module each, registered on the Bolt app in one place."""
from __future__ import annotations

from bot.listeners import actions, commands, events, views


def register_listeners(app, deps) -> None:
    events.register(app, deps)
    commands.register(app, deps)
    actions.register(app, deps)
    views.register(app, deps)
