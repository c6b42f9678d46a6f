-- Order import (discovery/importer.py): the file is COPYed into temporary staging tables, then
-- merged into the store with set-based statements, all in one transaction.

-- name: lock
-- One import at a time: two concurrent imports of overlapping files would race on the same orders.
SELECT pg_advisory_xact_lock(727002);

-- name: bulk_settings
-- Enough memory for the staging joins to hash in one pass.
SET LOCAL work_mem = '256MB';

-- name: skip_fk_triggers
-- The order_lines insert takes order_id from the orders it just inserted and product_id from a join
-- on products, so each row's keys exist by construction; PostgreSQL's per-row foreign-key checks
-- would otherwise be most of the import time. Needs superuser (the importer carries on with the
-- checks when it is not); SET LOCAL ends with the transaction.
SET LOCAL session_replication_role = replica;

-- name: restore_fk_triggers
SET LOCAL session_replication_role = origin;

-- name: create_staging
CREATE TEMP TABLE import_customers (
    customer_key   text PRIMARY KEY,
    email          text,
    phone          text,
    name           text,
    country        text,
    first_seen_at  timestamptz
) ON COMMIT DROP;
CREATE TEMP TABLE import_products (
    sku         text PRIMARY KEY,
    title       text,
    category    text,
    unit_price  numeric(12, 2)
) ON COMMIT DROP;
CREATE TEMP TABLE import_orders (
    order_key      text PRIMARY KEY,
    ordered_at     timestamptz NOT NULL,
    customer_key   text,
    kind           text NOT NULL,
    discount_code  text,
    country        text
) ON COMMIT DROP;
CREATE TEMP TABLE import_lines (
    order_key   text NOT NULL,
    line_no     integer NOT NULL,
    sku         text NOT NULL,
    quantity    integer NOT NULL,
    unit_price  numeric(12, 2) NOT NULL,
    discount    numeric(12, 2) NOT NULL,
    kind        text NOT NULL
) ON COMMIT DROP;
CREATE TEMP TABLE import_new_orders (
    order_id   bigint PRIMARY KEY,
    order_key  text NOT NULL
) ON COMMIT DROP;

-- name: copy_customers
COPY import_customers (customer_key, email, phone, name, country, first_seen_at) FROM STDIN (FORMAT csv, HEADER true);

-- name: copy_products
COPY import_products (sku, title, category, unit_price) FROM STDIN (FORMAT csv, HEADER true);

-- name: copy_orders
COPY import_orders (order_key, ordered_at, customer_key, kind, discount_code, country) FROM STDIN (FORMAT csv, HEADER true);

-- name: copy_lines
COPY import_lines (order_key, line_no, sku, quantity, unit_price, discount, kind) FROM STDIN (FORMAT csv, HEADER true);

-- name: analyze_staging
-- Temporary tables have no statistics until analysed; without them the planner guesses nested loops.
ANALYZE import_customers; ANALYZE import_products; ANALYZE import_orders; ANALYZE import_lines;

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

-- name: insert_orders
-- Only orders the store does not have yet: an order already imported is history and is left as it
-- is, which is what makes re-importing a file (or an overlapping newer export) add only what is new.
WITH totals AS (
    SELECT order_key,
           sum(quantity * unit_price) AS subtotal,
           sum(discount)              AS discount_total
    FROM import_lines
    GROUP BY order_key
), inserted AS (
    INSERT INTO orders (store_order_id, customer_id, ordered_at, kind, discount_code, country,
                        subtotal, discount_total, total)
    SELECT o.order_key, c.customer_id, o.ordered_at, o.kind, o.discount_code, o.country,
           t.subtotal, t.discount_total, t.subtotal - t.discount_total
    FROM import_orders o
    JOIN totals t USING (order_key)
    LEFT JOIN customers c ON c.store_customer_id = o.customer_key
    WHERE NOT EXISTS (SELECT 1 FROM orders existing WHERE existing.store_order_id = o.order_key)
    ON CONFLICT (store_order_id) DO NOTHING
    RETURNING order_id, store_order_id
)
INSERT INTO import_new_orders (order_id, order_key)
SELECT order_id, store_order_id FROM inserted;

-- name: insert_lines
INSERT INTO order_lines (order_id, line_no, product_id, quantity, unit_price, discount, kind)
SELECT n.order_id, l.line_no, p.product_id, l.quantity, l.unit_price, l.discount, l.kind
FROM import_lines l
JOIN import_new_orders n ON n.order_key = l.order_key
JOIN products p ON p.sku = l.sku;

-- name: new_order_count
SELECT count(*) AS new_orders FROM import_new_orders;

-- name: store_counts
SELECT (SELECT count(*) FROM customers)   AS customers,
       (SELECT count(*) FROM products)    AS products,
       (SELECT count(*) FROM orders)      AS orders,
       (SELECT count(*) FROM order_lines) AS order_lines;
