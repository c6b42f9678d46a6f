"""The one Gorgias REST client: httpx (on gorgias.transport's keep-alive transport) with Basic auth (username + API key), base URL from
GORGIAS_BASE_URL or GORGIAS_DOMAIN, a shared 40-requests-per-20-seconds limiter, and 429
Retry-After handling. 5xx and network errors are raised as retriable; the inbox retries them."""
from __future__ import annotations

import http.cookiejar
import logging
import time

import httpx

from analytics.limits import RateLimiter
from gorgias.transport import KeepAliveTransport

log = logging.getLogger(__name__)


class _NoCookies(http.cookiejar.CookieJar):
    def extract_cookies(self, response, request) -> None:
        return None


class GorgiasConfigError(Exception):
    """A setting the REST client needs is missing; the message names the variable."""


class GorgiasAPIError(Exception):
    def __init__(self, message: str, *, status: int | None, retriable: bool) -> None:
        super().__init__(message)
        self.status = status
        self.retriable = retriable


def base_url(settings) -> str:
    if settings.gorgias_base_url:
        return settings.gorgias_base_url.rstrip("/")
    if settings.gorgias_domain:
        domain = settings.gorgias_domain.strip().removeprefix("https://").rstrip("/")
        return f"https://{domain if '.' in domain else domain + '.gorgias.com'}"
    raise GorgiasConfigError("set GORGIAS_DOMAIN (e.g. 'yourstore') or GORGIAS_BASE_URL to post notes")


class GorgiasClient:
    MAX_429_WAITS = 5
    MAX_RETRY_AFTER = 120.0

    def __init__(self, settings, *, transport: httpx.BaseTransport | None = None) -> None:
        if not settings.gorgias_username or settings.gorgias_api_key is None:
            raise GorgiasConfigError("set GORGIAS_USERNAME and GORGIAS_API_KEY to post notes")
        self.settings = settings
        url = base_url(settings)
        self.http = httpx.Client(
            base_url=url, transport=transport or KeepAliveTransport(url, settings.gorgias_timeout_seconds),
            auth=httpx.BasicAuth(settings.gorgias_username, settings.gorgias_api_key.get_secret_value()),
            timeout=settings.gorgias_timeout_seconds, headers={"Accept": "application/json"},
            trust_env=False,   # no proxy/netrc lookups: the helpdesk is reached directly, with our own auth
            cookies=_NoCookies(),   # Basic auth needs no session: skip storing each answer's cookies
        )
        self._base = url
        # Per API key, so per process (each instance keeps under the limit on its own; a 429 pauses it).
        self.limiter = RateLimiter("gorgias_api", settings.gorgias_rate_limit_requests,
                                   settings.gorgias_rate_limit_window_seconds)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs) -> httpx.Response:
        # Waiting must end well inside the worker's lease on the event, or a second worker could
        # claim it and post the same note while this one still waits.
        budget = self.settings.gorgias_lease_seconds / 2
        started = time.monotonic()
        for _ in range(self.MAX_429_WAITS + 1):
            if self.limiter.acquire(max_wait=budget - (time.monotonic() - started)) is None:
                break
            try:
                # An absolute URL is parsed once; a path is parsed, then merged with the base URL.
                response = self.http.request(method, self._base + path, **kwargs)
            except httpx.HTTPError as exc:
                raise GorgiasAPIError(f"{method} {path}: {type(exc).__name__}: {exc}", status=None, retriable=True) from None
            if response.status_code == 429:
                wait = _retry_after(response.headers.get("retry-after"))
                self.limiter.pause("", wait)  # every thread holds back, not just this one
                if time.monotonic() - started + wait > budget:
                    raise GorgiasAPIError(f"{method} {path}: rate-limited for {wait:.0f} s more; retrying later",
                                          status=429, retriable=True)
                log.warning("Gorgias rate limit on %s %s: waiting %.1f s (Retry-After)", method, path, wait)
                continue
            if response.status_code >= 500:
                raise GorgiasAPIError(f"{method} {path}: Gorgias answered {response.status_code}",
                                      status=response.status_code, retriable=True)
            if response.status_code >= 400:
                raise GorgiasAPIError(f"{method} {path}: Gorgias answered {response.status_code}: {response.text[:300]}",
                                      status=response.status_code, retriable=False)
            return response
        raise GorgiasAPIError(f"{method} {path}: rate-limited; gave up waiting after {time.monotonic() - started:.0f} s",
                              status=429, retriable=True)

    def post_internal_note(self, ticket_id: int, body_html: str, body_text: str) -> dict:
        """POST /api/tickets/{id}/messages as an internal note from the configured agent."""
        sender = {"id": self.settings.gorgias_agent_user_id} if self.settings.gorgias_agent_user_id \
            else {"email": self.settings.gorgias_username}
        payload = {"channel": "internal-note", "from_agent": True, "via": "api", "public": False,
                   "sender": sender, "body_html": body_html, "body_text": body_text}
        return self.request("POST", f"/api/tickets/{ticket_id}/messages", json=payload).json()

    def list_messages(self, ticket_id: int) -> list[dict]:
        data = self.request("GET", f"/api/tickets/{ticket_id}/messages", params={"limit": 100}).json()
        return data.get("data", []) if isinstance(data, dict) else list(data)

    def add_tags(self, ticket_id: int, names: list[str]) -> None:
        self.request("POST", f"/api/tickets/{ticket_id}/tags", json={"names": names})

    def set_priority(self, ticket_id: int, priority: str) -> None:
        self.request("PUT", f"/api/tickets/{ticket_id}", json={"priority": priority})


def _retry_after(value: str | None) -> float:
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:  # an HTTP date; rare from Gorgias, a short wait is safe
        seconds = 2.0
    return min(max(seconds, 0.0), GorgiasClient.MAX_RETRY_AFTER)
