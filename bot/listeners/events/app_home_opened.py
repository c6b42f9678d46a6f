"""The App Home tab: a dashboard published with views.publish each time a person opens it."""
from __future__ import annotations

import logging

from bot.access import is_allowed, not_enabled_message
from bot.dashboard import load_dashboard
from bot.dedupe import first_delivery
from observability import metrics
from bot.views.home import home_view, message_home_view

log = logging.getLogger(__name__)


def register(app, deps) -> None:
    def ack_event(ack):
        ack()

    def publish(body, event, client):
        if not first_delivery(deps.db, body):
            return
        if event.get("tab", "home") != "home":
            return
        user = event["user"]
        if not is_allowed(deps.settings, None, user):
            client.views_publish(user_id=user, view=message_home_view(not_enabled_message("App Home")))
            return
        try:
            view = home_view(load_dashboard(deps))
        except Exception:
            metrics.SLACK_HANDLED.labels("app_home_opened", "error").inc()
            log.exception("building the Home dashboard failed")
            view = message_home_view("The dashboard is unavailable right now (the error is logged). "
                                     "You can still ask questions in the Messages tab.")
        client.views_publish(user_id=user, view=view)

    app.event("app_home_opened")(ack=ack_event, lazy=[deps.limited(publish)])
