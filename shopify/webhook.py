"""`POST /shopify/webhook`: verify the HMAC on the raw body, parse, store in `shopify_webhooks`
(deduplicated on X-Shopify-Webhook-Id), answer 200; a background applier then loads the stored
deliveries through the same mapping and import path as the sync. An unauthenticated or unreadable
delivery stores nothing; one that cannot be applied is kept with its error and never blocks the rest
(the next sync reconciles the order anyway)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
from typing import Callable

import psycopg
from psycopg.rows import dict_row
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from analytics.router.safety import scrub
from observability import metrics
from shopify.mapping import (
    Customer,
    MappingError,
    canonical_rows,
    from_rest,
    numeric_id,
    rest_refund,
    rest_refund_lines,
    return_rows,
)
from shopify.sync import load_orders
from sql import query

log = logging.getLogger(__name__)

ORDER_TOPICS = ("orders/create", "orders/updated", "orders/cancelled")
TOPICS = (*ORDER_TOPICS, "refunds/create")
MAX_BODY_BYTES = 2 << 20      # a large order with hundreds of lines stays well under this
MAX_ATTEMPTS = 5


def verify_hmac(secret: str, body: bytes, header: str | None) -> bool:
    """X-Shopify-Hmac-Sha256: base64 of HMAC-SHA256(raw body, the app's client secret), constant time."""
    if not header:
        return False
    expected = base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest())
    return hmac.compare_digest(expected, header.strip().encode())


def store_delivery(db, webhook_id: str, topic: str, shop: str | None, payload: dict) -> bool:
    """Make a delivery durable; False when this webhook id was stored before (a retried delivery)."""
    with db.cursor() as cur:
        cur.execute(query("shopify.store_webhook"), {"webhook_id": webhook_id, "topic": topic, "shop": shop,
                                                     "payload": json.dumps(payload)})
        return cur.fetchone()["inserted"]


def delivery_rows(db, topic: str, payload: dict, webhook_id: str = "") -> list[dict]:
    """The canonical lines one delivery stands for (a refund: of the stored order's customer and
    country); none when a newer version of the order was applied already."""
    if topic in ORDER_TOPICS:
        order = from_rest(payload)
        if order.updated_at is not None and _superseded(db, order.order_id, order.updated_at, webhook_id):
            log.info("Shopify webhook %s skipped: a newer version of order %s was applied", webhook_id,
                     order.order_id)
            return []
        return canonical_rows(order)
    order_key = numeric_id(payload.get("order_id"))
    with db.cursor() as cur:
        cur.execute(query("shopify.order_customer"), {"order_key": order_key})
        stored = cur.fetchone()
    if stored is None:  # Shopify does not promise order: the order's own webhook or the sync brings it
        raise MappingError(f"refund {payload.get('id')} is for order {order_key}, which is not stored yet")
    customer = (Customer(stored["store_customer_id"], None, None, None)
                if stored["store_customer_id"] else None)
    lines = {line.line_id: line for line in rest_refund_lines(payload, order_key)}
    return return_rows(order_key, rest_refund(payload, order_key), customer, lines, stored["country"])


def _superseded(db, order_id: str, updated_at, webhook_id: str) -> bool:
    with db.cursor() as cur:
        cur.execute(query("shopify.newer_version_applied"), {"order_id": order_id, "topics": list(ORDER_TOPICS),
                                                              "webhook_id": webhook_id, "updated_at": updated_at})
        return cur.fetchone()["superseded"]


def apply_pending(db, after_load: Callable[[], None] | None = None, limit: int = 100) -> dict[str, int]:
    """Apply stored deliveries not applied yet, oldest first, each through the import path on its own
    (one bad delivery is recorded with its error and retried later, up to MAX_ATTEMPTS). Returns
    counts of applied and failed deliveries."""
    applied, failed, changed = [], 0, False
    with db.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
        cur.execute(query("shopify.pending_webhooks"), {"max_attempts": MAX_ATTEMPTS, "limit": limit})
        for row in cur.fetchall():
            try:
                summary, _ = load_orders(db, delivery_rows(db, row["topic"], row["payload"], row["webhook_id"]),
                                         f"shopify webhook {row['topic']}")
            except Exception as exc:  # noqa: BLE001 - recorded on the delivery; the others go on
                failed += 1
                # scrub: an importer message may quote a refused value, such as an email
                log.warning("Shopify webhook %s (%s) not applied: %s", row["webhook_id"], row["topic"], scrub(str(exc)))
                cur.execute(query("shopify.webhook_failed"), {"webhook_id": row["webhook_id"],
                                                               "error": str(exc)[:500]})
                continue
            applied.append(row["webhook_id"])
            changed = changed or bool(summary and (summary.new_orders or summary.changed_orders))
        if applied:
            cur.execute(query("shopify.webhook_applied"), {"webhook_ids": applied})
    metrics.SHOPIFY_APPLIED.labels("applied").inc(len(applied))
    metrics.SHOPIFY_APPLIED.labels("failed").inc(failed)
    if changed and after_load is not None:
        after_load()
    return {"applied": len(applied), "failed": failed}


class WebhookApplier:
    """One background thread that applies stored deliveries whenever it is woken."""

    def __init__(self, db, after_load: Callable[[], None] | None = None) -> None:
        self.db, self.after_load = db, after_load
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shopify-webhooks", daemon=True)
        self._thread.start()
        self._wake.set()  # deliveries stored before a restart

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(10)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                while apply_pending(self.db, self.after_load)["applied"]:
                    pass
            except Exception:  # noqa: BLE001 - the next wake (or the sync) tries again
                log.exception("applying Shopify webhooks failed")


def make_webhook_endpoint(db, secret: str | None, on_stored: Callable[[], None]):
    """The Starlette endpoint for POST /shopify/webhook."""

    def answer(status: int, outcome: str, **body) -> JSONResponse:
        metrics.SHOPIFY_WEBHOOKS.labels(outcome).inc()
        return JSONResponse({"status": outcome, **body}, status_code=status)

    async def webhook(request: Request) -> JSONResponse:
        if secret is None:
            return answer(503, "not_configured", error="set SHOPIFY_WEBHOOK_SECRET to accept Shopify webhooks")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return answer(413, "too_large", error=f"body over {MAX_BODY_BYTES} bytes")
        chunks, size = [], 0
        async for chunk in request.stream():  # a lying or absent Content-Length cannot make us buffer more
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                return answer(413, "too_large", error=f"body over {MAX_BODY_BYTES} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        if not verify_hmac(secret, body, request.headers.get("x-shopify-hmac-sha256")):
            log.warning("shopify webhook rejected: missing or wrong X-Shopify-Hmac-Sha256")
            return answer(401, "unauthorized", error="missing or wrong X-Shopify-Hmac-Sha256")
        topic = request.headers.get("x-shopify-topic", "")
        webhook_id = request.headers.get("x-shopify-webhook-id", "").strip()
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return answer(400, "invalid", error="the body is not JSON")
        if not isinstance(payload, dict):
            return answer(400, "invalid", error="the body is not a JSON object")
        if topic not in TOPICS:  # a topic this app does not use: acknowledged so Shopify does not retry
            return answer(200, "ignored", topic=topic)
        if not webhook_id or len(webhook_id) > 200:
            return answer(400, "invalid", error="missing X-Shopify-Webhook-Id")
        try:
            inserted = await run_in_threadpool(store_delivery, db, webhook_id, topic,
                                               request.headers.get("x-shopify-shop-domain"), payload)
        except psycopg.DataError as exc:  # e.g. a NUL in a string, which jsonb refuses: its own fault
            return answer(400, "invalid",
                          error="a value in the body cannot be stored: " + str(exc).splitlines()[0][:200])
        except Exception as exc:  # noqa: BLE001 - Shopify delivers again after a non-2xx
            log.error("shopify webhook %s not stored: %s", webhook_id, exc)
            return answer(503, "unavailable", error="could not store the delivery; deliver it again later")
        if inserted:
            on_stored()
        return answer(200, "stored" if inserted else "duplicate")

    return webhook
