"""Modal submissions."""
from bot.listeners.views import feedback_reason


def register(app, deps) -> None:
    feedback_reason.register(app, deps)
