"""Button listeners: show more, export CSV, feedback, suggested questions, review subscriptions."""
from bot.listeners.actions import digest_subscription, export_csv, feedback, run_question, show_more


def register(app, deps) -> None:
    show_more.register(app, deps)
    export_csv.register(app, deps)
    feedback.register(app, deps)
    run_question.register(app, deps)
    digest_subscription.register(app, deps)
