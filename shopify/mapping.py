"""Shopify orders, as the Admin GraphQL API returns them or as a webhook posts them (REST-shaped),
turned into the importer's canonical order lines (discovery.importer's columns).

One order gives: its sale lines (quantity, original unit price, the discounts allocated to the line);
one return order per refund (`{id}-R{refund id}`, dated when refunded, the refunded quantities at the
refunded amount); and, when cancelled, one return order `{id}-C` dated at the cancellation for what
was not already refunded, the way the importer treats a cancellation invoice. An order without a
customer is a guest order (no customer id, as the importer loads a line without one), even when it
carries an email: only Shopify's customer id names a customer here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_FLOOR, Decimal, InvalidOperation

CENT = Decimal("0.01")


class MappingError(ValueError):
    """A Shopify order that cannot be read; the message names the order and the field."""


@dataclass(frozen=True)
class Customer:
    customer_id: str
    email: str | None
    phone: str | None
    name: str | None


@dataclass(frozen=True)
class LineItem:
    line_id: str
    sku: str
    title: str
    category: str | None
    quantity: int
    unit_price: Decimal
    discount: Decimal            # all discount allocations of the line


@dataclass(frozen=True)
class RefundedItem:
    line_id: str
    quantity: int
    subtotal: Decimal            # what was refunded for these units


@dataclass(frozen=True)
class Refund:
    refund_id: str
    refunded_at: datetime
    items: tuple[RefundedItem, ...]


@dataclass
class ShopifyOrder:
    order_id: str
    created_at: datetime
    updated_at: datetime | None
    cancelled_at: datetime | None
    customer: Customer | None
    discount_code: str | None
    country: str | None = None   # the billing (else shipping) address's country code: no more of the address
    lines: list[LineItem] = field(default_factory=list)
    refunds: list[Refund] = field(default_factory=list)


# --- reading ---------------------------------------------------------------------------------------

def numeric_id(value: object) -> str:
    """'gid://shopify/Order/450789469' or 450789469 -> '450789469'."""
    text = str(value or "").strip()
    tail = text.rsplit("/", 1)[-1]
    if not tail.isdigit():
        raise MappingError(f"id {text!r} is not a Shopify id")
    return tail


def _time(value: object, what: str, order: str) -> datetime:
    try:
        stamp = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MappingError(f"order {order}: {what} {value!r} is not a time") from None
    if stamp.tzinfo is None:
        raise MappingError(f"order {order}: {what} {value!r} has no UTC offset")
    return stamp


def _money(value: object, what: str, order: str) -> Decimal:
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise MappingError(f"order {order}: {what} {value!r} is not an amount") from None
    if not amount.is_finite():
        raise MappingError(f"order {order}: {what} {value!r} is not an amount")
    return amount


def _quantity(value: object, order: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise MappingError(f"order {order}: quantity {value!r} is not a whole number of units")
    return value


def _text(value: object) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _customer(raw: dict | None, first: str, last: str) -> Customer | None:
    if not raw or raw.get("id") is None:
        return None
    name = " ".join(part for part in (_text(raw.get(first)), _text(raw.get(last))) if part) or None
    return Customer(numeric_id(raw["id"]), _text(raw.get("email")), _text(raw.get("phone")), name)


def _country(billing: dict | None, shipping: dict | None, field_name: str) -> str | None:
    for address in (billing, shipping):
        if isinstance(address, dict) and _text(address.get(field_name)):
            return _text(address.get(field_name))
    return None


def _sku(sku: object, title: str) -> str:
    # As the export import keys products: no SKU (custom items, gift cards) -> by title.
    return _text(sku) or (f"title:{title}" if title else "")


def _nodes(connection: dict | list | None) -> list:
    """A GraphQL connection's nodes (nodes or edges[].node), or a plain list."""
    if connection is None:
        return []
    if isinstance(connection, list):
        return connection
    if "nodes" in connection:
        return connection["nodes"] or []
    return [edge["node"] for edge in connection.get("edges") or []]


def _shop_amount(money_set: dict | None, what: str, order: str) -> Decimal:
    try:
        return _money(money_set["shopMoney"]["amount"], what, order)
    except (KeyError, TypeError):
        raise MappingError(f"order {order}: {what} is missing") from None


def from_graphql(node: dict) -> ShopifyOrder:
    """An `Order` node of the Admin GraphQL API (the fields shopify/client.py asks for)."""
    try:
        order = numeric_id(node.get("id"))
    except (AttributeError, MappingError) as exc:
        raise MappingError(f"an order without a readable id ({exc})") from None
    lines = []
    for item in _nodes(node.get("lineItems")):
        title = _text(item.get("title")) or ""
        product = item.get("product") or {}
        lines.append(LineItem(
            line_id=numeric_id(item.get("id")), sku=_sku(item.get("sku"), title), title=title,
            category=_text(product.get("productType")), quantity=_quantity(item.get("quantity"), order),
            unit_price=_shop_amount(item.get("originalUnitPriceSet"), "originalUnitPriceSet", order),
            discount=sum((_shop_amount(a.get("allocatedAmountSet"), "allocatedAmountSet", order)
                          for a in item.get("discountAllocations") or []), Decimal(0))))
    refunds = []
    for refund in _nodes(node.get("refunds")):
        items = tuple(RefundedItem(numeric_id((r.get("lineItem") or {}).get("id")), _quantity(r.get("quantity"), order),
                                   _shop_amount(r.get("subtotalSet"), "subtotalSet", order))
                      for r in _nodes(refund.get("refundLineItems")))
        refunds.append(Refund(numeric_id(refund.get("id")), _time(refund.get("createdAt"), "refund createdAt", order),
                              items))
    return ShopifyOrder(
        order_id=order, created_at=_time(node.get("createdAt"), "createdAt", order),
        updated_at=_time(node["updatedAt"], "updatedAt", order) if node.get("updatedAt") else None,
        cancelled_at=_time(node["cancelledAt"], "cancelledAt", order) if node.get("cancelledAt") else None,
        customer=_customer(node.get("customer"), "firstName", "lastName"),
        discount_code=_text(node.get("discountCode")),
        country=_country(node.get("billingAddress"), node.get("shippingAddress"), "countryCodeV2"),
        lines=lines, refunds=refunds)


def _rest_line(item: dict, order: str) -> LineItem:
    title = _text(item.get("title")) or ""
    return LineItem(
        line_id=numeric_id(item.get("id")), sku=_sku(item.get("sku"), title), title=title,
        category=None,  # REST line items carry no product type; the sync fills it in
        quantity=_quantity(item.get("quantity"), order), unit_price=_money(item.get("price"), "price", order),
        discount=sum((_money(a.get("amount"), "discount_allocations amount", order)
                      for a in item.get("discount_allocations") or []), Decimal(0)))


def rest_refund(refund: dict, order: str) -> Refund:
    """A REST refund (an order's refunds[] entry, or a refunds/create payload)."""
    items = tuple(RefundedItem(numeric_id(r.get("line_item_id") or (r.get("line_item") or {}).get("id")),
                               _quantity(r.get("quantity"), order), _money(r.get("subtotal"), "subtotal", order))
                  for r in refund.get("refund_line_items") or [])
    return Refund(numeric_id(refund.get("id")), _time(refund.get("created_at"), "refund created_at", order), items)


def from_rest(payload: dict) -> ShopifyOrder:
    """An order as the orders/create, orders/updated and orders/cancelled webhooks post it."""
    try:
        order = numeric_id(payload.get("id"))
    except (AttributeError, MappingError) as exc:
        raise MappingError(f"an order without a readable id ({exc})") from None
    codes = payload.get("discount_codes") or []
    return ShopifyOrder(
        order_id=order, created_at=_time(payload.get("created_at"), "created_at", order),
        updated_at=_time(payload["updated_at"], "updated_at", order) if payload.get("updated_at") else None,
        cancelled_at=_time(payload["cancelled_at"], "cancelled_at", order) if payload.get("cancelled_at") else None,
        customer=_customer(payload.get("customer"), "first_name", "last_name"),
        discount_code=_text(codes[0].get("code")) if codes and isinstance(codes[0], dict) else None,
        country=_country(payload.get("billing_address"), payload.get("shipping_address"), "country_code"),
        lines=[_rest_line(item, order) for item in payload.get("line_items") or []],
        refunds=[rest_refund(refund, order) for refund in payload.get("refunds") or []])


def rest_refund_lines(payload: dict, order: str) -> list[LineItem]:
    """The line items a refunds/create payload names (each refund line carries its line item)."""
    return [_rest_line(r["line_item"], order) for r in payload.get("refund_line_items") or [] if r.get("line_item")]


# --- canonical lines -------------------------------------------------------------------------------

def _row(order_key: str, at: datetime, customer: Customer | None, line: LineItem, quantity: int,
         unit_price: Decimal, discount: Decimal, discount_code: str | None, country: str | None) -> dict:
    return {"order_id": order_key, "ordered_at": at.isoformat(),
            "customer_id": customer.customer_id if customer else "",
            "email": (customer.email or "") if customer else "", "name": (customer.name or "") if customer else "",
            "phone": (customer.phone or "") if customer else "", "country": country or "",
            "sku": line.sku, "product_title": line.title, "category": line.category or "",
            "quantity": quantity, "unit_price": str(unit_price), "line_discount": str(discount),
            "discount_code": discount_code or ""}


def _returned_at_value(quantity: int, amount: Decimal) -> tuple[Decimal, Decimal]:
    """(unit price, line discount) for `quantity` units coming back worth `amount` in all, exact to the
    cent: the unit price rounded down and the cents left over as the line's discount, so the return
    line's value (−quantity × price − discount) is exactly −amount."""
    unit = (amount / quantity).quantize(CENT, rounding=ROUND_FLOOR)
    return unit, amount - unit * quantity


def return_rows(order_key: str, refund: Refund, customer: Customer | None, lines: dict[str, LineItem],
                country: str | None = None) -> list[dict]:
    """The return order `{order}-R{refund}` of one refund: refunded quantities at the refunded amount."""
    rows = []
    for item in refund.items:
        line = lines.get(item.line_id)
        if line is None:
            raise MappingError(f"order {order_key}: refund {refund.refund_id} names line item {item.line_id}, "
                               "which the order does not have")
        if item.quantity == 0:  # a refund of shipping or an amount only: no goods came back
            continue
        unit, rest = _returned_at_value(item.quantity, item.subtotal)
        rows.append(_row(f"{order_key}-R{refund.refund_id}", refund.refunded_at, customer, line, -item.quantity,
                         unit, rest, None, country))
    return rows


def canonical_rows(order: ShopifyOrder) -> list[dict]:
    """Every canonical line one Shopify order stands for: the sale, its refunds, its cancellation."""
    rows = [_row(order.order_id, order.created_at, order.customer, line, line.quantity, line.unit_price,
                 line.discount, order.discount_code, order.country)
            for line in order.lines if line.quantity > 0]
    by_id = {line.line_id: line for line in order.lines}
    refunded: dict[str, int] = {}
    for refund in order.refunds:
        rows += return_rows(order.order_id, refund, order.customer, by_id, order.country)
        for item in refund.items:
            refunded[item.line_id] = refunded.get(item.line_id, 0) + item.quantity
    if order.cancelled_at is not None:
        for line in order.lines:
            left = line.quantity - refunded.get(line.line_id, 0)
            if left <= 0:
                continue
            net_per_unit = (line.unit_price * line.quantity - line.discount) / line.quantity
            unit, rest = _returned_at_value(left, (net_per_unit * left).quantize(CENT))
            rows.append(_row(f"{order.order_id}-C", order.cancelled_at, order.customer, line, -left, unit, rest,
                             None, order.country))
    return rows
