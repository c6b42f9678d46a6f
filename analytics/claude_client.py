"""The one Anthropic client, configured from settings; None when no API key is set."""
from __future__ import annotations

from functools import lru_cache

import anthropic


def claude_client(settings) -> anthropic.Anthropic | None:
    if settings.anthropic_api_key is None:
        return None
    return _client(settings.anthropic_api_key.get_secret_value(), settings.anthropic_base_url,
                   settings.anthropic_timeout_seconds, settings.anthropic_max_retries)


@lru_cache(maxsize=4)
def _client(api_key: str, base_url: str | None, timeout: float, max_retries: int) -> anthropic.Anthropic:
    return anthropic.Anthropic(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)
