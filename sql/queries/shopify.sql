-- Shopify (shopify/): the sync's high-water mark and the webhook inbox of migration 014.

-- name: state
SELECT shop, updated_through, last_synced_at, last_summary,
       extract(epoch FROM now() - last_synced_at) AS age_seconds
FROM shopify_sync_state WHERE shop = %(shop)s;

-- name: latest_state
-- For /health/ready: the most recent sync of any shop this database holds.
SELECT shop, updated_through, last_synced_at, extract(epoch FROM now() - last_synced_at) AS age_seconds
FROM shopify_sync_state ORDER BY last_synced_at DESC NULLS LAST LIMIT 1;

-- name: try_lock
-- One sync of a database at a time (serve instances each schedule one): the others skip their turn
-- rather than fetch the same pages again. Held by the sync's own transaction, so a crash releases it.
SELECT pg_try_advisory_xact_lock(727014) AS locked;

-- name: advance_mark
-- The mark only moves forward: a --since run over older orders does not pull it back.
INSERT INTO shopify_sync_state AS s (shop, updated_through)
VALUES (%(shop)s, %(updated_through)s)
ON CONFLICT (shop) DO UPDATE SET updated_through = GREATEST(s.updated_through, EXCLUDED.updated_through);

-- name: finish
INSERT INTO shopify_sync_state AS s (shop, last_synced_at, last_summary)
VALUES (%(shop)s, now(), %(summary)s)
ON CONFLICT (shop) DO UPDATE SET last_synced_at = now(), last_summary = EXCLUDED.last_summary;

-- name: order_customer
-- A refunds/create webhook names only its order: the return goes to that order's customer.
SELECT o.order_id, o.country, c.store_customer_id
FROM orders o LEFT JOIN customers c USING (customer_id)
WHERE o.store_order_id = %(order_key)s;

-- name: store_webhook
-- A repeated X-Shopify-Webhook-Id is a retried delivery: counted, not stored twice.
INSERT INTO shopify_webhooks AS w (webhook_id, topic, shop, payload)
VALUES (%(webhook_id)s, %(topic)s, %(shop)s, %(payload)s::jsonb)
ON CONFLICT (webhook_id) DO UPDATE SET deliveries = w.deliveries + 1
RETURNING (xmax = 0) AS inserted;

-- name: pending_webhooks
-- Oldest first, so an order's updates apply in the order they were sent; one applier at a time.
SELECT webhook_id, topic, payload
FROM shopify_webhooks
WHERE applied_at IS NULL AND attempts < %(max_attempts)s
ORDER BY received_at, webhook_id
LIMIT %(limit)s
FOR UPDATE SKIP LOCKED;

-- name: newer_version_applied
-- Shopify does not deliver in order, and retries a failed delivery later: an order delivery older
-- than one already applied for the same order would put old lines back, so it is skipped.
SELECT EXISTS (
    SELECT 1 FROM shopify_webhooks
    WHERE payload ->> 'id' = %(order_id)s AND topic = ANY(%(topics)s) AND applied_at IS NOT NULL
      AND webhook_id <> %(webhook_id)s
      AND (payload ->> 'updated_at')::timestamptz > %(updated_at)s
) AS superseded;

-- name: webhook_applied
UPDATE shopify_webhooks SET applied_at = now(), attempts = attempts + 1, last_error = NULL
WHERE webhook_id = ANY(%(webhook_ids)s);

-- name: webhook_failed
UPDATE shopify_webhooks SET attempts = attempts + 1, last_error = %(error)s WHERE webhook_id = %(webhook_id)s;

-- name: webhook_counts
SELECT count(*) FILTER (WHERE applied_at IS NULL AND attempts < %(max_attempts)s) AS pending,
       count(*) FILTER (WHERE applied_at IS NULL AND attempts >= %(max_attempts)s) AS failed,
       count(*) FILTER (WHERE applied_at IS NOT NULL) AS applied
FROM shopify_webhooks;
