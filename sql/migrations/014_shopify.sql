-- Shopify: the sync's high-water mark and the durable inbox of order webhooks.
-- shopify/ is the one place that reads and writes these tables.

-- One row per shop: orders updated at or after `updated_through` (less a small overlap) are what
-- the next sync asks for.
CREATE TABLE shopify_sync_state (
    shop             text PRIMARY KEY,
    updated_through  timestamptz,            -- the newest order updatedAt a sync has stored
    last_synced_at   timestamptz,            -- when the last sync finished (any orders or none)
    last_summary     jsonb
);

-- Every authenticated webhook delivery, stored before the 200 (Shopify retries what is not
-- answered), applied through the import path, then marked. webhook_id is Shopify's
-- X-Shopify-Webhook-Id: a retried delivery carries the same one.
CREATE TABLE shopify_webhooks (
    webhook_id   text PRIMARY KEY,
    topic        text NOT NULL,
    shop         text,
    payload      jsonb NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    deliveries   integer NOT NULL DEFAULT 1,
    applied_at   timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text
);
CREATE INDEX shopify_webhooks_pending_idx ON shopify_webhooks (received_at) WHERE applied_at IS NULL;
-- The applied deliveries of one order, to tell a late (retried) older one from the newest.
CREATE INDEX shopify_webhooks_order_idx ON shopify_webhooks ((payload ->> 'id'), topic) WHERE applied_at IS NOT NULL;
