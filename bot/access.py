"""Optional allow-lists of Slack channels and users (SLACK_ALLOWED_CHANNELS / _USERS)."""
from __future__ import annotations

NOT_ENABLED = ("I'm not enabled here. Ask a workspace admin to add this channel ({channel}) "
               "or you to the bot's allow-list.")


def is_allowed(settings, channel: str | None, user: str | None) -> bool:
    """True when no list is set, or the channel and the user are on the lists that are set.
    Direct messages (D…) pass the channel list: a person's own DM with the bot is theirs."""
    channels = set(settings.slack_allowed_channels or [])
    users = set(settings.slack_allowed_users or [])
    if users and user not in users:
        return False
    if channels and channel not in channels and not (channel or "").startswith("D"):
        return False
    return True


def not_enabled_message(channel: str | None) -> str:
    return NOT_ENABLED.format(channel=channel or "?")
