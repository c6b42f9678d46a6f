"""A loopback fake of Shopify's Admin GraphQL endpoint for tests and the benchmark.

It answers `POST /admin/api/{version}/graphql.json` with `X-Shopify-Access-Token`, reads the
`orders` connection's variables (`first`, `after`, `query: "updated_at:>='…'"`, and how many lines,
refunds and refunded lines per order), returns orders by updatedAt with `pageInfo { hasNextPage
endCursor }` and `nodes` (nested connections cut at their `first`, with their own page info), answers
the follow-up queries for the rest of an order (by operation name: OrderLines, OrderRefunds,
RefundLines), computes the requested cost as Shopify does (refusing over 1,000 points with
`MAX_COST_EXCEEDED`), charges it against a leaky bucket reported in
`extensions.cost.throttleStatus` (refusing with `THROTTLED` when the bucket is too low), and can be
scripted to answer HTTP 429 with Retry-After or 5xx. Orders are kept in
the GraphQL shape; `rest_order` gives the same order as a webhook would post it.
"""
from __future__ import annotations

import base64
import bisect
import json
import re
import threading
import time
from collections import deque
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH = re.compile(r"^/admin/api/([^/]+)/graphql\.json$")
_UPDATED = re.compile(r"updated_at:>='([^']+)'")


def iso(at: datetime) -> str:
    return at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(amount) -> dict:
    return {"shopMoney": {"amount": f"{float(amount):.2f}", "currencyCode": "USD"}}


class FakeShopify:
    def __init__(self, token: str = "shpat_test_token", version: str = "2025-10", *, bucket: float = 1000.0,
                 restore_rate: float = 50.0) -> None:
        self.token, self.version = token, version
        self.lock = threading.Lock()
        self.orders: dict[int, dict] = {}
        self.requests: list[dict] = []           # every GraphQL request: variables, status, time
        self.script: deque[tuple[int, dict]] = deque()   # (HTTP status, headers) answered first
        self.maximum, self.restore_rate = bucket, restore_rate
        self.available, self._filled_at = bucket, time.monotonic()
        self.throttled = 0
        self._next = {"order": 5_000_000_000, "line": 13_000_000_000, "refund": 900_000_000}
        self.clock = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def _send(self, status: int, body: dict, headers: dict | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                match = _PATH.match(self.path)
                if match is None or match.group(1) != fake.version:
                    return self._send(404, {"errors": "Not Found"})
                if self.headers.get("X-Shopify-Access-Token") != fake.token:
                    return self._send(401, {"errors": "[API] Invalid API key or access token"})
                status, body, headers = fake.answer(json.loads(raw or b"{}"))
                self._send(status, body, headers)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> "FakeShopify":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --- the store --------------------------------------------------------------------------------

    def _id(self, kind: str) -> int:
        self._next[kind] += 1
        return self._next[kind]

    def tick(self, seconds: float = 60) -> datetime:
        """The store's clock moves on; every change is stamped with it."""
        self.clock += timedelta(seconds=seconds)
        return self.clock

    def add_order(self, lines: list[dict], *, customer: dict | None = None, created_at: datetime | None = None,
                  discount_code: str | None = None, name: str | None = None, country: str | None = None) -> dict:
        """lines: dicts of sku, title, product_type, quantity, price, discount (the allocations' sum)."""
        with self.lock:
            order_id = self._id("order")
            at = created_at or self.tick()
            node = {
                "id": f"gid://shopify/Order/{order_id}", "name": name or f"#{order_id % 100000}",
                "createdAt": iso(at), "updatedAt": iso(max(at, self.tick(1))), "processedAt": iso(at),
                "cancelledAt": None, "currencyCode": "USD", "discountCode": discount_code,
                "billingAddress": {"countryCodeV2": country} if country else None, "shippingAddress": None,
                "email": (customer or {}).get("email"),
                "customer": None if customer is None else {
                    "id": f"gid://shopify/Customer/{customer['id']}", "email": customer.get("email"),
                    "phone": customer.get("phone"), "firstName": customer.get("first_name"),
                    "lastName": customer.get("last_name")},
                "lineItems": {"nodes": [self._line(line) for line in lines]},
                "refunds": [],
            }
            self.orders[order_id] = node
            return node

    def _line(self, line: dict) -> dict:
        line_id = self._id("line")
        return {"id": f"gid://shopify/LineItem/{line_id}", "sku": line.get("sku"), "quantity": line["quantity"],
                "title": line["title"], "variant": {"id": f"gid://shopify/ProductVariant/{line_id}"},
                "product": {"id": f"gid://shopify/Product/{abs(hash(line['title'])) % 10**9}",
                            "productType": line.get("product_type", "")},
                "originalUnitPriceSet": money(line["price"]),
                "discountAllocations": ([{"allocatedAmountSet": money(line["discount"])}]
                                        if line.get("discount") else [])}

    def edit_order(self, node: dict, *, set_quantity: dict[int, int] | None = None,
                   add_lines: list[dict] | None = None) -> None:
        """An order edit: line quantities changed (by position) and/or lines added; updatedAt moves."""
        with self.lock:
            for position, quantity in (set_quantity or {}).items():
                node["lineItems"]["nodes"][position]["quantity"] = quantity
            node["lineItems"]["nodes"] += [self._line(line) for line in add_lines or []]
            node["updatedAt"] = iso(self.tick())

    def refund(self, node: dict, items: list[tuple[int, int, float]], at: datetime | None = None) -> dict:
        """items: (line position, quantity, refunded subtotal)."""
        with self.lock:
            at = at or self.tick()
            refund = {"id": f"gid://shopify/Refund/{self._id('refund')}", "createdAt": iso(at),
                      "refundLineItems": {"nodes": [
                          {"lineItem": {"id": node["lineItems"]["nodes"][pos]["id"]}, "quantity": quantity,
                           "subtotalSet": money(subtotal)} for pos, quantity, subtotal in items]}}
            node["refunds"].append(refund)
            node["updatedAt"] = iso(max(at, self.tick(1)))
            return refund

    def cancel(self, node: dict, at: datetime | None = None) -> None:
        with self.lock:
            at = at or self.tick()
            node["cancelledAt"] = iso(at)
            node["updatedAt"] = iso(max(at, self.tick(1)))

    def rest_order(self, node: dict) -> dict:
        """The order as Shopify's orders/* webhooks post it (REST field names)."""
        customer = node["customer"]
        return {
            "id": int(node["id"].rsplit("/", 1)[1]), "name": node["name"], "email": node["email"],
            "created_at": node["createdAt"], "updated_at": node["updatedAt"], "cancelled_at": node["cancelledAt"],
            "currency": "USD",
            "billing_address": ({"country_code": node["billingAddress"]["countryCodeV2"]}
                                if node["billingAddress"] else None),
            "discount_codes": [{"code": node["discountCode"], "amount": "0.00", "type": "fixed_amount"}]
            if node["discountCode"] else [],
            "customer": None if customer is None else {
                "id": int(customer["id"].rsplit("/", 1)[1]), "email": customer["email"], "phone": customer["phone"],
                "first_name": customer["firstName"], "last_name": customer["lastName"]},
            "line_items": [self._rest_line(line) for line in node["lineItems"]["nodes"]],
            "refunds": [{"id": int(r["id"].rsplit("/", 1)[1]), "order_id": int(node["id"].rsplit("/", 1)[1]),
                         "created_at": r["createdAt"],
                         "refund_line_items": [
                             {"line_item_id": int(item["lineItem"]["id"].rsplit("/", 1)[1]),
                              "quantity": item["quantity"],
                              "subtotal": item["subtotalSet"]["shopMoney"]["amount"]}
                             for item in r["refundLineItems"]["nodes"]]}
                        for r in node["refunds"]],
        }

    @staticmethod
    def _rest_line(line: dict) -> dict:
        return {"id": int(line["id"].rsplit("/", 1)[1]), "sku": line["sku"], "title": line["title"],
                "quantity": line["quantity"], "price": line["originalUnitPriceSet"]["shopMoney"]["amount"],
                "product_id": int(line["product"]["id"].rsplit("/", 1)[1]),
                "variant_id": int(line["variant"]["id"].rsplit("/", 1)[1]),
                "discount_allocations": [{"amount": a["allocatedAmountSet"]["shopMoney"]["amount"]}
                                         for a in line["discountAllocations"]]}

    # --- the API ----------------------------------------------------------------------------------

    def throttle_429(self, retry_after: float = 0.05, times: int = 1) -> None:
        with self.lock:
            self.script.extend([(429, {"Retry-After": str(retry_after)})] * times)

    def fail_after(self, good_requests: int, status: int = 500, times: int = 10) -> None:
        """Answer `good_requests` requests normally, then `status` `times` times."""
        with self.lock:
            self.script.extend([(None, {})] * good_requests + [(status, {})] * times)

    def drain_bucket(self, to: float = 0.0) -> None:
        """Spend the bucket down, as another app on the same shop would."""
        with self.lock:
            self._refill()
            self.available = to

    def _refill(self) -> None:
        now = time.monotonic()
        self.available = min(self.maximum, self.available + (now - self._filled_at) * self.restore_rate)
        self._filled_at = now

    def answer(self, body: dict) -> tuple[int, dict, dict]:
        variables = body.get("variables") or {}
        text = body.get("query") or ""
        with self.lock:
            scripted = self.script.popleft() if self.script else None
            if scripted is not None and scripted[0] is None:  # a scripted pass: answer normally
                scripted = None
            self.requests.append({"variables": variables, "status": scripted[0] if scripted else 200,
                                  "at": time.monotonic(), "operation": _operation(text)})
            if scripted is not None:
                message = ("Exceeded 2 calls per second for api client. Reduce request rates to resume "
                           "uninterrupted service." if scripted[0] == 429 else "Internal Server Error")
                return scripted[0], {"errors": message}, scripted[1]
            operation = _operation(text)
            if operation not in _OPERATIONS:
                return 200, {"errors": [{"message": f"operation {operation!r} is not faked"}]}, {}
            requested = _OPERATIONS[operation][0](variables)
            if requested > MAX_QUERY_COST:
                return 200, {"errors": [{"message": f"Query cost is {requested}, which exceeds the single query "
                                                    f"max cost limit ({MAX_QUERY_COST}).",
                                         "extensions": {"code": "MAX_COST_EXCEEDED", "cost": requested,
                                                        "maxCost": MAX_QUERY_COST}}]}, {}
            self._refill()
            if requested > self.available:
                self.throttled += 1
                return 200, {"errors": [{"message": "Throttled", "extensions": {
                    "code": "THROTTLED", "documentation": "https://shopify.dev/api/usage/rate-limits"}}],
                    "extensions": {"cost": self._cost(requested, None)}}, {}
            data, actual = _OPERATIONS[operation][1](self, variables)
            if isinstance(data, str):
                return 200, {"errors": [{"message": data}]}, {}
            self.available -= actual
            return 200, {"data": json.loads(json.dumps(data)),
                         "extensions": {"cost": self._cost(requested, actual)}}, {}

    # Shopify's requested cost: an object 1, a scalar 0, a connection 2 + first x its node's cost
    # (LINE_COST per line item, REFUND_LINE_COST per refunded line; an order node with its customer
    # and addresses 4).

    def _orders(self, variables: dict) -> tuple[dict | str, int]:
        first = int(variables.get("first") or 0)
        if not 1 <= first <= 250:
            return "first must be between 1 and 250", 0
        page, has_next, cursor = self._page(first, variables.get("after"), variables.get("query"))
        lines, refunds, refund_lines = (int(variables[k]) for k in ("lines", "refunds", "refundLines"))
        nodes, actual = [], 2
        for node in page:
            view, cost = _truncated(node, lines, refunds, refund_lines)
            nodes.append(view)
            actual += cost
        return {"orders": {"pageInfo": {"hasNextPage": has_next, "endCursor": cursor}, "nodes": nodes}}, actual

    def _order(self, order_gid: str) -> dict | None:
        return self.orders.get(int(str(order_gid).rsplit("/", 1)[-1] or 0))

    def _order_lines(self, variables: dict) -> tuple[dict | str, int]:
        node = self._order(variables["id"])
        if node is None:
            return {"order": None}, 1
        start = int(variables.get("after") or 0)
        items = node["lineItems"]["nodes"]
        chunk = items[start:start + 100]
        return {"order": {"lineItems": _connection(chunk, start, len(items))}}, 2 + len(chunk) * LINE_COST

    def _order_refunds(self, variables: dict) -> tuple[dict | str, int]:
        node = self._order(variables["id"])
        if node is None:
            return {"order": None}, 1
        refunds = [_refund_view(r, 5) for r in node["refunds"][:30]]
        return {"order": {"refunds": refunds}}, 1 + sum(3 + len(r["refundLineItems"]["nodes"]) * REFUND_LINE_COST
                                                        for r in refunds)

    def _refund_lines(self, variables: dict) -> tuple[dict | str, int]:
        refund = next((r for node in self.orders.values() for r in node["refunds"] if r["id"] == variables["id"]),
                      None)
        if refund is None:
            return {"node": None}, 1
        start = int(variables.get("after") or 0)
        items = refund["refundLineItems"]["nodes"]
        chunk = items[start:start + 100]
        return {"node": {"refundLineItems": _connection(chunk, start, len(items))}}, 2 + len(chunk) * REFUND_LINE_COST

    def _cost(self, requested: float, actual: float | None) -> dict:
        return {"requestedQueryCost": requested, "actualQueryCost": actual,
                "throttleStatus": {"maximumAvailable": self.maximum, "currentlyAvailable": round(self.available, 1),
                                   "restoreRate": self.restore_rate}}

    def _page(self, first: int, after: str | None, search: str | None) -> tuple[list[dict], bool, str | None]:
        # Orders by (updatedAt, id); updatedAt is always written as iso() writes it, so text order is
        # time order and a page is found by bisection (a benchmark asks for thousands of pages).
        keys = sorted((node["updatedAt"], order_id) for order_id, node in self.orders.items())
        start = 0
        if search and (match := _UPDATED.search(search)):
            since = iso(datetime.fromisoformat(match.group(1).replace("Z", "+00:00")))
            start = bisect.bisect_left(keys, (since, -1))
        if after:
            updated, order_id = base64.b64decode(after).decode().split("|")
            start = max(start, bisect.bisect_right(keys, (updated, int(order_id))))
        page = keys[start:start + first]
        cursor = base64.b64encode(f"{page[-1][0]}|{page[-1][1]}".encode()).decode() if page else None
        return [self.orders[order_id] for _, order_id in page], start + first < len(keys), cursor


MAX_QUERY_COST = 1000
LINE_COST, REFUND_LINE_COST, ORDER_NODE_COST = 7, 4, 4


def _operation(text: str) -> str:
    match = re.search(r"\b(?:query|mutation)\s+(\w+)", text)
    return match.group(1) if match else ""


def _connection(nodes: list, start: int, total: int) -> dict:
    end = start + len(nodes)
    return {"pageInfo": {"hasNextPage": end < total, "endCursor": str(end) if nodes else None}, "nodes": nodes}


def _refund_view(refund: dict, refund_lines: int) -> dict:
    items = refund["refundLineItems"]["nodes"]
    return {"id": refund["id"], "createdAt": refund["createdAt"],
            "refundLineItems": _connection(items[:refund_lines], 0, len(items))}


def _truncated(node: dict, lines: int, refunds: int, refund_lines: int) -> tuple[dict, int]:
    """An order as a page shows it: its first `lines` line items and `refunds` refunds (each with its
    first `refund_lines` lines), with the page info that says there is more; and its actual cost."""
    view = dict(node)
    items = node["lineItems"]["nodes"]
    view["lineItems"] = _connection(items[:lines], 0, len(items))
    view["refunds"] = [_refund_view(r, refund_lines) for r in node["refunds"][:refunds]]
    cost = (ORDER_NODE_COST + 2 + len(view["lineItems"]["nodes"]) * LINE_COST
            + sum(3 + len(r["refundLineItems"]["nodes"]) * REFUND_LINE_COST for r in view["refunds"]))
    return view, cost


def _orders_cost(v: dict) -> int:
    per_order = (ORDER_NODE_COST + 2 + int(v.get("lines") or 0) * LINE_COST
                 + int(v.get("refunds") or 0) * (1 + 2 + int(v.get("refundLines") or 0) * REFUND_LINE_COST))
    return 2 + int(v.get("first") or 0) * per_order


_OPERATIONS = {
    "Orders": (_orders_cost, FakeShopify._orders),
    "OrderLines": (lambda v: 2 + 100 * LINE_COST, FakeShopify._order_lines),
    "OrderRefunds": (lambda v: 1 + 30 * (1 + 2 + 5 * REFUND_LINE_COST), FakeShopify._order_refunds),
    "RefundLines": (lambda v: 2 + 100 * REFUND_LINE_COST, FakeShopify._refund_lines),
}
