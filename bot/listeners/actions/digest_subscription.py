"""The App Home's review-and-alerts controls: pick a channel, then Weekly, Daily or Stop. The answer
goes to the person's DM with the bot, and the Home tab is published again to show the change."""
from __future__ import annotations

import logging
import re

from bot.dashboard import load_dashboard
from bot.subscriptions import set_subscription
from bot.views.home import DIGEST_BLOCK, DIGEST_CHANNEL, DIGEST_CHOICE, home_view

log = logging.getLogger(__name__)


def picked_channel(body: dict) -> str | None:
    """The channel picked in the Home tab's selector (Slack sends the view's state with the click)."""
    values = ((body.get("view") or {}).get("state") or {}).get("values") or {}
    return ((values.get(DIGEST_BLOCK) or {}).get(DIGEST_CHANNEL) or {}).get("selected_conversation")


def register(app, deps) -> None:
    def ack_action(ack):
        ack()

    def choose(body, action, client):
        user = (body.get("user") or {}).get("id")
        channel = picked_channel(body)
        if channel is None:
            client.chat_postMessage(channel=user, text="Pick a channel in the Home tab first, then Weekly, Daily "
                                                       "or Stop.")
            return
        client.chat_postMessage(channel=user, text=set_subscription(deps, channel, user, action.get("value") or ""))
        try:
            client.views_publish(user_id=user, view=home_view(load_dashboard(deps)))
        except Exception:  # noqa: BLE001 - the change is made and said; a stale Home tab is cosmetic
            log.exception("refreshing the Home tab after a subscription change failed")

    # Picking a channel alone changes nothing: acknowledged so Slack shows no error.
    app.action(DIGEST_CHANNEL)(ack_action)
    app.action(re.compile(f"^{DIGEST_CHOICE}_(weekly|daily|off)$"))(ack=ack_action, lazy=[deps.limited(choose)])
