"""Button listeners: show more, export CSV, feedback, suggested questions."""
from bot.listeners.actions import export_csv, feedback, run_question, show_more


def register(app, deps) -> None:
    show_more.register(app, deps)
    export_csv.register(app, deps)
    feedback.register(app, deps)
    run_question.register(app, deps)
