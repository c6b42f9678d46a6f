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

# Shopify refuses a query whose requested cost exceeds 1,000 points, and the requested cost counts
# every nested connection at its `first`: 2 + first x (the node's cost); an object costs 1, a scalar 0.
# So an orders page asks for a few lines and refunds per order, and orders that hold more are
# completed by the follow-up queries below (ORDER_LINES, ORDER_REFUNDS, REFUND_LINES).
MAX_QUERY_COST = 1000
LINES_PER_ORDER = 20
REFUNDS_PER_ORDER = 3
LINES_PER_REFUND = 5
LINE_COST = 7              # node, product, originalUnitPriceSet + shopMoney, a discount allocation (3)
REFUND_LINE_COST = 4       # node, lineItem, subtotalSet + shopMoney
ORDER_COST = (4            # node, customer, billingAddress, shippingAddress
              + 2 + LINES_PER_ORDER * LINE_COST
              + REFUNDS_PER_ORDER * (1 + 2 + LINES_PER_REFUND * REFUND_LINE_COST))
LARGEST_PAGE = (MAX_QUERY_COST - 2) // ORDER_COST

_LINE_FIELDS = """
          id sku quantity title
          product { productType }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
          discountAllocations { allocatedAmountSet { shopMoney { amount } } }"""
_REFUND_LINE_FIELDS = "lineItem { id } quantity subtotalSet { shopMoney { amount } }"

ORDERS_QUERY = """
query Orders($first: Int!, $after: String, $query: String, $lines: Int!, $refunds: Int!, $refundLines: Int!) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id name createdAt updatedAt processedAt cancelledAt currencyCode email discountCode
      billingAddress { countryCodeV2 }
      shippingAddress { countryCodeV2 }
      customer { id email phone firstName lastName }
      lineItems(first: $lines) {
        pageInfo { hasNextPage endCursor }
        nodes {%s
        }
      }
      refunds(first: $refunds) {
        id createdAt
        refundLineItems(first: $refundLines) {
          pageInfo { hasNextPage endCursor }
          nodes { %s }
        }
      }
    }
  }
}
""" % (_LINE_FIELDS, _REFUND_LINE_FIELDS)

ORDER_LINES = """
query OrderLines($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {%s
      }
    }
  }
}
""" % _LINE_FIELDS
# 2 + 100 x 7 = 702 points.

ORDER_REFUNDS = """
query OrderRefunds($id: ID!) {
  order(id: $id) {
    refunds(first: 30) {
      id createdAt
      refundLineItems(first: %d) {
        pageInfo { hasNextPage endCursor }
        nodes { %s }
      }
    }
  }
}
""" % (LINES_PER_REFUND, _REFUND_LINE_FIELDS)
# 1 + 30 x (1 + 2 + 5 x 4) = 691 points. An order refunded more than 30 times keeps its first 30.
MAX_REFUNDS = 30

REFUND_LINES = """
query RefundLines($id: ID!, $after: String) {
  node(id: $id) {
    ... on Refund {
      refundLineItems(first: 100, after: $after) {
        pageInfo { hasNextPage endCursor }
        nodes { %s }
      }
    }
  }
}
""" % _REFUND_LINE_FIELDS
# 2 + 100 x 4 = 402 points.

# What the first request may cost before Shopify has said: one page at the largest size.
FIRST_PAGE_COST = float(2 + LARGEST_PAGE * ORDER_COST)
MAX_RETRY_AFTER = 60.0


class ShopifyConfigError(Exception):
    """A setting the client needs is missing; the message names the variable."""


class ShopifyAPIError(Exception):
    """Shopify refused or kept failing a request; the message says which and why (never the token)."""


class QueryTooCostly(ShopifyAPIError):
    """MAX_COST_EXCEEDED: the query's requested cost is over Shopify's single-query limit."""


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
        self.page_size = min(settings.shopify_page_size, LARGEST_PAGE)
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
            codes = {(e.get("extensions") or {}).get("code") for e in errors if isinstance(e, dict)}
            if "THROTTLED" in codes:
                self.throttle.throttled += 1
                failures = self._retry_or_raise(failures, "THROTTLED",
                                                self.throttle.seconds_until(cost or self.throttle.last_cost))
                continue
            if "MAX_COST_EXCEEDED" in codes:
                raise QueryTooCostly(f"Shopify refused a query costing {cost or '?'} points (the limit is "
                                     f"{MAX_QUERY_COST})")
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
        """Pages of complete Order nodes updated at or after `updated_since` (ISO time; None: all),
        oldest update first, following the cursor until the last page."""
        search = f"updated_at:>='{updated_since}'" if updated_since else None
        after = None
        while True:
            try:
                data = self.execute(ORDERS_QUERY, {"first": self.page_size, "after": after, "query": search,
                                                   "lines": LINES_PER_ORDER, "refunds": REFUNDS_PER_ORDER,
                                                   "refundLines": LINES_PER_REFUND})
            except QueryTooCostly:
                if self.page_size == 1:
                    raise
                # Shopify counts some field dearer than ORDER_COST supposes: smaller pages, same cursor.
                self.page_size //= 2
                log.warning("Shopify: query over the cost limit; %d orders a page from now on", self.page_size)
                continue
            connection = data.get("orders") or {}
            yield [self.complete(node) for node in connection.get("nodes") or []]
            page = connection.get("pageInfo") or {}
            if not page.get("hasNextPage"):
                return
            after = page.get("endCursor")

    def complete(self, order: dict) -> dict:
        """The order with every line item, refund and refunded line, fetching what the page left out."""
        if not isinstance(order, dict) or not order.get("id"):
            return order  # the mapping names what is wrong with it
        lines = order.get("lineItems") or {}
        while (lines.get("pageInfo") or {}).get("hasNextPage"):
            more = (self.execute(ORDER_LINES, {"id": order["id"], "after": lines["pageInfo"]["endCursor"]})
                    .get("order") or {}).get("lineItems") or {}
            lines = {"pageInfo": more.get("pageInfo") or {},
                     "nodes": (lines.get("nodes") or []) + (more.get("nodes") or [])}
        order["lineItems"] = lines
        if len(order.get("refunds") or []) >= REFUNDS_PER_ORDER:
            refunds = (self.execute(ORDER_REFUNDS, {"id": order["id"]}).get("order") or {}).get("refunds")
            if refunds is not None:
                order["refunds"] = refunds
                if len(refunds) >= MAX_REFUNDS:
                    log.warning("Shopify order %s has %d refunds or more; the first %d are read",
                                order.get("name"), MAX_REFUNDS, MAX_REFUNDS)
        for refund in order.get("refunds") or []:
            items = refund.get("refundLineItems") or {}
            while (items.get("pageInfo") or {}).get("hasNextPage"):
                more = (self.execute(REFUND_LINES, {"id": refund["id"], "after": items["pageInfo"]["endCursor"]})
                        .get("node") or {}).get("refundLineItems") or {}
                items = {"pageInfo": more.get("pageInfo") or {},
                         "nodes": (items.get("nodes") or []) + (more.get("nodes") or [])}
            refund["refundLineItems"] = items
        return order


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("Retry-After", "1")), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        return 1.0
