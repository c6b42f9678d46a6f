"""Event listeners: mentions, direct messages, the App Home tab and the assistant surface."""
from bot.listeners.events import app_home_opened, app_mention, assistant, direct_message


def register(app, deps) -> None:
    app_mention.register(app, deps)
    assistant.register(app, deps)
    direct_message.register(app, deps)
    app_home_opened.register(app, deps)
