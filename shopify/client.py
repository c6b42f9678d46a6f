"""The one Shopify Admin GraphQL client: httpx, `X-Shopify-Access-Token`, the shop's own host or
SHOPIFY_API_URL, and Shopify's cost-based rate limit respected: it waits when the bucket
(`extensions.cost.throttleStatus`) is too low for the next query, retries `THROTTLED` answers after
the bucket refills, honours HTTP 429 `Retry-After`, and retries 5xx and network errors with backoff."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import httpx

if TYPE_CHECKING:
    from settings import Settings

log = logging.getLogger(__name__)

ORDERS_QUERY = """
query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt processedAt cancelledAt currencyCode email discountCode
      billingAddress { countryCodeV2 }
      shippingAddress { countryCodeV2 }
      customer { id email phone firstName lastName }
      lineItems(first: 250) {
        nodes {
          id sku quantity title
          variant { id }
          product { id productType }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
          discountAllocations { allocatedAmountSet { shopMoney { amount } } }
        }
      }
      refunds(first: 50) {
        id createdAt
        refundLineItems(first: 250) {
          nodes { lineItem { id } quantity subtotalSet { shopMoney { amount } } }
        }
      }
    }
  }
}
"""
# What one page of ORDERS_QUERY may cost before Shopify has told us (first page): the bucket of a
# standard shop holds 1,000 points, enough for a first page of 100 orders with their lines.
FIRST_PAGE_COST = 100.0
MAX_RETRY_AFTER = 60.0


class ShopifyConfigError(Exception):
    """A setting the client needs is missing; the message names the variable."""


class ShopifyAPIError(Exception):
    """Shopify refused or kept failing a request; the message says which and why (never the token)."""


@dataclass
class Throttle:
    """The last throttleStatus Shopify reported, and what the last query cost."""
    maximum: float = 1000.0
    available: float = 1000.0
    restore_rate: float = 50.0
    last_cost: float = FIRST_PAGE_COST
    waited_seconds: float = 0.0
    throttled: int = 0          # THROTTLED answers and 429s retried

    def seconds_until(self, cost: float) -> float:
        missing = min(cost, self.maximum) - self.available
        return max(0.0, missing / self.restore_rate) if self.restore_rate > 0 else 0.0


def endpoint(settings: Settings) -> str:
    if not settings.shopify_configured:
        raise ShopifyConfigError("set SHOPIFY_SHOP (e.g. 'my-store') and SHOPIFY_ACCESS_TOKEN to sync Shopify")
    base = (settings.shopify_api_url or f"https://{settings.shopify_shop}").rstrip("/")
    return f"{base}/admin/api/{settings.shopify_api_version}/graphql.json"


class ShopifyClient:
    def __init__(self, settings: Settings, *, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.url = endpoint(settings)
        self.max_retries = settings.shopify_max_retries
        self.page_size = settings.shopify_page_size
        self.sleep = sleep
        self.throttle = Throttle()
        self.http = httpx.Client(
            timeout=settings.shopify_timeout_seconds, transport=transport,
            headers={"X-Shopify-Access-Token": settings.shopify_access_token.get_secret_value(),
                     "Content-Type": "application/json", "Accept": "application/json"})

    def close(self) -> None:
        self.http.close()

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.throttle.waited_seconds += seconds
            self.sleep(seconds)

    def execute(self, query: str, variables: dict) -> dict:
        """The `data` of one GraphQL request, after as many waits and retries as it takes (up to
        SHOPIFY_MAX_RETRIES failures in a row)."""
        failures = 0
        while True:
            self._wait(self.throttle.seconds_until(self.throttle.last_cost))
            try:
                response = self.http.post(self.url, json={"query": query, "variables": variables})
            except httpx.HTTPError as exc:
                failures = self._retry_or_raise(failures, f"{type(exc).__name__} talking to Shopify")
                continue
            if response.status_code == 429:
                self.throttle.throttled += 1
                failures = self._retry_or_raise(failures, "HTTP 429", _retry_after(response))
                continue
            if response.status_code >= 500:
                failures = self._retry_or_raise(failures, f"HTTP {response.status_code}")
                continue
            if response.status_code in (401, 403):
                raise ShopifyAPIError(f"Shopify refused the access token (HTTP {response.status_code}): check "
                                      "SHOPIFY_ACCESS_TOKEN and the app's scopes (read_orders, read_customers, "
                                      "read_products)")
            if response.status_code != 200:
                raise ShopifyAPIError(f"Shopify answered HTTP {response.status_code}: {response.text[:200]}")
            try:
                body = response.json()
            except ValueError:
                failures = self._retry_or_raise(failures, "a response that is not JSON")
                continue
            cost = self._read_cost(body)
            errors = body.get("errors") or []
            if any((e.get("extensions") or {}).get("code") == "THROTTLED" for e in errors if isinstance(e, dict)):
                self.throttle.throttled += 1
                failures = self._retry_or_raise(failures, "THROTTLED",
                                                self.throttle.seconds_until(cost or self.throttle.last_cost))
                continue
            if errors:
                messages = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
                raise ShopifyAPIError(f"Shopify refused the query: {messages[:300]}")
            return body.get("data") or {}

    def _read_cost(self, body: dict) -> float | None:
        """Update the bucket from `extensions.cost`; returns the query's requested cost when given."""
        cost = (body.get("extensions") or {}).get("cost") or {}
        status = cost.get("throttleStatus") or {}
        try:
            self.throttle.maximum = float(status.get("maximumAvailable", self.throttle.maximum))
            self.throttle.available = float(status.get("currentlyAvailable", self.throttle.available))
            self.throttle.restore_rate = float(status.get("restoreRate", self.throttle.restore_rate))
            if cost.get("requestedQueryCost") is not None:
                self.throttle.last_cost = float(cost["requestedQueryCost"])
                return self.throttle.last_cost
        except (TypeError, ValueError):
            log.warning("Shopify sent an unreadable query cost; keeping the last one")
        return None

    def _retry_or_raise(self, failures: int, what: str, wait: float | None = None) -> int:
        failures += 1
        if failures > self.max_retries:
            raise ShopifyAPIError(f"Shopify kept failing ({what}) after {self.max_retries} retries")
        delay = wait if wait is not None else min(0.5 * 2 ** (failures - 1), 30.0)
        log.info("Shopify: %s; retrying in %.2f s", what, delay)
        self._wait(delay)
        return failures

    def order_pages(self, updated_since: str | None) -> Iterator[list[dict]]:
        """Pages of Order nodes updated at or after `updated_since` (ISO time; None: all), oldest
        update first, following the cursor until the last page."""
        search = f"updated_at:>='{updated_since}'" if updated_since else None
        after = None
        while True:
            data = self.execute(ORDERS_QUERY, {"first": self.page_size, "after": after, "query": search})
            connection = data.get("orders") or {}
            yield connection.get("nodes") or [edge["node"] for edge in connection.get("edges") or []]
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0
