"""Per-person and per-channel limits on Slack questions (mentions, DMs, slash commands), and the
friendly note that says when to ask again. The windows live in Redis when it is configured, so
every instance counts the same questions (analytics.limits)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

from analytics.limits import RateLimiter
from observability import metrics

if TYPE_CHECKING:
    from analytics.cache import Cache


class QuestionLimits:
    def __init__(self, settings, cache: Cache | None) -> None:
        window = settings.slack_rate_window_seconds
        self.per_user = RateLimiter("slack_user", settings.slack_user_questions, window, cache=cache)
        self.per_channel = RateLimiter("slack_channel", settings.slack_channel_questions, window, cache=cache)

    def wait_before(self, channel: str | None, user: str | None) -> float:
        """0 when this question may be answered (it is counted), else the seconds until one may."""
        for limit, key in ((self.per_user, user), (self.per_channel, channel)):
            if not key:
                continue
            wait = limit.check(key)
            if wait > 0:
                metrics.RATE_LIMITED.labels(limit.name).inc()
                return wait
        return 0.0


def limited_message(wait_seconds: float) -> str:
    if wait_seconds < 90:
        when = f"in about {max(1, math.ceil(wait_seconds))} seconds"
    else:
        when = f"in about {math.ceil(wait_seconds / 60)} minutes"
    return (f"That's a lot of questions in a short time, so I'm taking a breather. "
            f"Please ask again {when}.")
