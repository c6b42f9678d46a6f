-- Order import (discovery/importer.py): customers and products are COPYed into temporary staging
-- tables and merged with set-based statements; the orders the store does not have yet and their
-- lines are then COPYed straight into orders and order_lines. All of it in one transaction.

-- name: lock
-- One import at a time: two concurrent imports of overlapping files would race on the same orders.
SELECT pg_advisory_xact_lock(727002);

-- name: bulk_settings
-- Enough memory for the staging joins to hash in one pass.
SET LOCAL work_mem = '256MB';

-- name: skip_fk_triggers
-- Every foreign key this transaction writes exists by construction: the orders and order_lines
-- COPYs carry customer and product ids just read back from those tables and order ids this
-- transaction reserved for the orders it writes. PostgreSQL's per-row foreign-key checks would
-- otherwise be most of the import time. Needs superuser (the importer carries on with the checks
-- when it is not); SET LOCAL ends with the transaction.
SET LOCAL session_replication_role = replica;

-- name: restore_fk_triggers
SET LOCAL session_replication_role = origin;

-- name: create_staging
CREATE TEMP TABLE import_customers (
    customer_key   text PRIMARY KEY,
    customer_pos   integer NOT NULL,   -- the importer's row position, to map ids back without text keys
    email          text,
    phone          text,
    name           text,
    country        text,
    first_seen_at  timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE import_products (
    sku         text PRIMARY KEY,
    product_pos integer NOT NULL,   -- the importer's row position, to map ids back without text keys
    title       text,
    category    text,
    unit_price  numeric(12, 2)
) ON COMMIT DROP;
CREATE TEMP TABLE import_order_keys (
    order_key  text PRIMARY KEY,
    order_pos  integer NOT NULL
) ON COMMIT DROP;

-- name: copy_customers
COPY import_customers (customer_key, customer_pos, email, phone, name, country, first_seen_at)
FROM STDIN (FORMAT csv, HEADER true);

-- name: copy_products
COPY import_products (sku, product_pos, title, category, unit_price) FROM STDIN (FORMAT csv, HEADER true);

-- name: copy_order_keys
COPY import_order_keys (order_key, order_pos) FROM STDIN (FORMAT csv, HEADER true);

-- name: analyze_staging
-- Temporary tables have no statistics until analysed; without them the planner guesses nested loops.
ANALYZE import_customers; ANALYZE import_products; ANALYZE import_order_keys;

-- name: upsert_customers
-- New customers are inserted; known ones keep the earliest first_seen_at and take this file's
-- non-empty contact details. Rows that would not change are not touched (a re-import writes nothing).
WITH upserted AS (
    INSERT INTO customers AS c (store_customer_id, email, phone, name, country, first_seen_at)
    SELECT customer_key, email, phone, name, country, first_seen_at
    FROM import_customers
    ON CONFLICT (store_customer_id) DO UPDATE SET
        email         = COALESCE(EXCLUDED.email, c.email),
        phone         = COALESCE(EXCLUDED.phone, c.phone),
        name          = COALESCE(EXCLUDED.name, c.name),
        country       = COALESCE(EXCLUDED.country, c.country),
        first_seen_at = LEAST(c.first_seen_at, EXCLUDED.first_seen_at)
    WHERE (c.email, c.phone, c.name, c.country, c.first_seen_at)
          IS DISTINCT FROM (COALESCE(EXCLUDED.email, c.email), COALESCE(EXCLUDED.phone, c.phone),
                            COALESCE(EXCLUDED.name, c.name), COALESCE(EXCLUDED.country, c.country),
                            LEAST(c.first_seen_at, EXCLUDED.first_seen_at))
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS new_customers,
       count(*) FILTER (WHERE NOT inserted) AS updated_customers
FROM upserted;

-- name: upsert_products
-- A known product keeps its title, category and price; only missing ones are filled in.
WITH upserted AS (
    INSERT INTO products AS p (sku, title, category, unit_price)
    SELECT sku, title, category, unit_price FROM import_products
    ON CONFLICT (sku) DO UPDATE SET
        title      = COALESCE(p.title, EXCLUDED.title),
        category   = COALESCE(p.category, EXCLUDED.category),
        unit_price = COALESCE(p.unit_price, EXCLUDED.unit_price)
    WHERE (p.title IS NULL AND EXCLUDED.title IS NOT NULL)
       OR (p.category IS NULL AND EXCLUDED.category IS NOT NULL)
       OR (p.unit_price IS NULL AND EXCLUDED.unit_price IS NOT NULL)
    RETURNING (xmax = 0) AS inserted
)
SELECT count(*) FILTER (WHERE inserted) AS new_products FROM upserted;

-- name: customer_ids
SELECT c.customer_id, i.customer_pos FROM customers c JOIN import_customers i ON i.customer_key = c.store_customer_id;

-- name: existing_orders
-- Orders the store already has are history and are left as they are: this is what makes re-importing
-- a file (or an overlapping newer export) add only what is new.
SELECT k.order_pos FROM import_order_keys k JOIN orders o ON o.store_order_id = k.order_key;

-- name: lock_orders
-- Nobody else may add orders until this import commits (readers are not blocked), so the block of
-- ids reserved below cannot be taken by another insert.
LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE;

-- name: reserve_order_ids
-- Reserves order ids last - count + 1 .. last from the identity sequence in one call; the importer
-- COPYs the new orders with those ids (COPY may write identity columns).
SELECT setval(pg_get_serial_sequence('orders', 'order_id'),
              nextval(pg_get_serial_sequence('orders', 'order_id')) + %(count)s - 1) AS last_id;

-- name: copy_orders
COPY orders (order_id, store_order_id, customer_id, ordered_at, kind, discount_code, country,
             subtotal, discount_total, total)
FROM STDIN (FORMAT csv, HEADER true);

-- name: product_ids
SELECT p.product_id, i.product_pos FROM products p JOIN import_products i USING (sku);

-- name: copy_order_lines
COPY order_lines (order_id, line_no, product_id, quantity, unit_price, discount, kind)
FROM STDIN (FORMAT csv, HEADER true);

-- name: store_counts
SELECT (SELECT count(*) FROM customers)   AS customers,
       (SELECT count(*) FROM products)    AS products,
       (SELECT count(*) FROM orders)      AS orders,
       (SELECT count(*) FROM order_lines) AS order_lines;

-- The rest is for a sync (shopify/): orders the store already has are compared with what the source
-- says now, and the ones that changed (an edited order) are replaced in place, keeping their ids.

-- name: create_incoming
CREATE TEMP TABLE import_orders_incoming (
    order_pos      integer PRIMARY KEY,
    customer_id    bigint,
    ordered_at     timestamptz NOT NULL,
    kind           text NOT NULL,
    discount_code  text,
    country        text,
    subtotal       numeric(14, 2) NOT NULL,
    discount_total numeric(14, 2) NOT NULL,
    total          numeric(14, 2) NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE import_lines_incoming (
    order_pos   integer NOT NULL,
    line_no     integer NOT NULL,
    product_id  bigint,
    quantity    integer NOT NULL,
    unit_price  numeric(12, 2) NOT NULL,
    discount    numeric(12, 2) NOT NULL,
    kind        text NOT NULL,
    PRIMARY KEY (order_pos, line_no)
) ON COMMIT DROP;

-- name: copy_orders_incoming
COPY import_orders_incoming (order_pos, customer_id, ordered_at, kind, discount_code, country, subtotal,
                             discount_total, total)
FROM STDIN (FORMAT csv, HEADER true);

-- name: copy_lines_incoming
COPY import_lines_incoming (order_pos, line_no, product_id, quantity, unit_price, discount, kind)
FROM STDIN (FORMAT csv, HEADER true);

-- name: find_changed_orders
-- The stored orders whose row or lines differ from what the source says now (an edited order).
-- Unchanged orders are not touched afterwards, so a re-sync writes nothing.
CREATE TEMP TABLE import_changed ON COMMIT DROP AS
WITH stored AS (
    SELECT o.order_id, i.order_pos
    FROM import_orders_incoming i
    JOIN import_order_keys k USING (order_pos)
    JOIN orders o ON o.store_order_id = k.order_key
)
SELECT s.order_id, s.order_pos
FROM stored s
JOIN orders o USING (order_id)
JOIN import_orders_incoming i USING (order_pos)
WHERE (o.customer_id, o.ordered_at, o.kind, o.discount_code, o.country, o.subtotal, o.discount_total, o.total)
      IS DISTINCT FROM (i.customer_id, i.ordered_at, i.kind, i.discount_code, i.country, i.subtotal,
                        i.discount_total, i.total)
   OR EXISTS (SELECT l.line_no, l.product_id, l.quantity, l.unit_price, l.discount, l.kind
              FROM order_lines l WHERE l.order_id = s.order_id
              EXCEPT
              SELECT n.line_no, n.product_id, n.quantity, n.unit_price, n.discount, n.kind
              FROM import_lines_incoming n WHERE n.order_pos = s.order_pos)
   OR EXISTS (SELECT n.line_no, n.product_id, n.quantity, n.unit_price, n.discount, n.kind
              FROM import_lines_incoming n WHERE n.order_pos = s.order_pos
              EXCEPT
              SELECT l.line_no, l.product_id, l.quantity, l.unit_price, l.discount, l.kind
              FROM order_lines l WHERE l.order_id = s.order_id);

-- name: update_changed_orders
UPDATE orders o
SET customer_id = i.customer_id, ordered_at = i.ordered_at, kind = i.kind, discount_code = i.discount_code,
    country = i.country, subtotal = i.subtotal, discount_total = i.discount_total, total = i.total,
    imported_at = now()
FROM import_changed c JOIN import_orders_incoming i USING (order_pos)
WHERE o.order_id = c.order_id;

-- name: delete_changed_lines
DELETE FROM order_lines l USING import_changed c WHERE l.order_id = c.order_id;

-- name: insert_changed_lines
INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount, kind)
SELECT c.order_id, n.line_no, n.product_id, n.quantity, n.unit_price, n.discount, n.kind
FROM import_changed c JOIN import_lines_incoming n USING (order_pos);

-- name: forget_rollup
-- Orders changed in place: the product rollup folds new order ids only, so it is built again from
-- nothing by the next refresh (analytics.product_rollup.fold_orders builds when it has no state).
DELETE FROM product_rollup_state;
