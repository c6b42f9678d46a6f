-- The write side of the product rollups (migration 008), run by analytics.product_rollup only: fold the
-- order lines into the order grains (product_order_rollup, category_order_rollup), derive from them
-- product_customer_rollup and the all-history answers (product_group_facts, product_pair_facts; a step
-- of its own, migration 017), store the standard periods' answers and the sums per segment / archetype
-- (product_segment_facts). The reads are in products.sql; products.summary and summary_members are also
-- how the stored answers are computed, so a stored answer is the answer of the query it replaces.

-- name: tuning
-- For the rest of the fold's transaction: products.tuning (no JIT, cheap index lookups), with room for
-- the fold's hash aggregates and sorts of a million rows in memory (64 MB spills them to disk in
-- batches) and for building the indexes again in one pass.
SELECT set_config('jit', 'off', true), set_config('work_mem', '256MB', true),
       set_config('maintenance_work_mem', '256MB', true), set_config('random_page_cost', '1.1', true);

-- name: rollup_lock
-- One refresher at a time (any fixed number); the others wait, then find the rollup current.
SELECT pg_advisory_xact_lock(727008);

-- name: build_start
-- A fold from nothing (the rollup was never built, or orders were deleted): empty the tables at once
-- (TRUNCATE, not a DELETE of a million rows; it waits for readers of them and holds them off until
-- commit, when the new rows are there), then build them without their indexes (build_indexes). The
-- derived tables go too: derive_start builds them again from the new order grains.
TRUNCATE product_order_rollup, category_order_rollup, product_customer_rollup, product_pair_facts;

-- name: derive_start
-- The derived tables built from nothing (first build, rebuilt order grains, recategorised products).
TRUNCATE product_customer_rollup, product_pair_facts;

-- name: build_indexes
-- The indexes and key constraints of the tables a build fills (%(tables)s), as the schema (migration 008
-- or later) defines them: dropped before the bulk insert and created again after it, several times
-- faster than maintaining them row by row (the definitions are read from the catalog, so they never drift).
SELECT t.relname AS table_name, i.indexrelid::regclass::text AS index_name, c.conname AS constraint_name,
       pg_get_indexdef(i.indexrelid) AS index_def, pg_get_constraintdef(c.oid) AS constraint_def
FROM pg_index i
JOIN pg_class t ON t.oid = i.indrelid
LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid AND c.contype IN ('p', 'u')
WHERE i.indrelid = ANY (%(tables)s::regclass[])
ORDER BY t.relname, i.indexrelid;

-- name: rollup_extend
-- Fold the orders imported since the last refresh (%(after)s < order_id <= %(upto)s) into the rollup:
-- orders are only ever appended, so earlier rows never change. float8 sums keep later folds small
-- (numeric sums spill them to disk); money is rounded to cents at the end, far above float8's error.
INSERT INTO product_order_rollup (order_id, product_id, customer_id, ordered_at, is_sale, sold, amount,
                                  sale_amount, units)
SELECT l.order_id, coalesce(l.product_id, 0), min(o.customer_id), min(o.ordered_at), bool_and(o.kind = 'sale'),
       coalesce(bool_or(o.kind = 'sale' AND l.kind = 'sale' AND l.quantity > 0), false),
       sum((l.quantity * l.unit_price - l.discount)::double precision),
       coalesce(sum((l.quantity * l.unit_price - l.discount)::double precision) FILTER (WHERE l.kind = 'sale'), 0),
       sum(l.quantity)
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
WHERE o.order_id > %(after)s AND o.order_id <= %(upto)s
  AND o.kind IN ('sale', 'return') AND l.kind IN ('sale', 'return')
GROUP BY l.order_id, coalesce(l.product_id, 0)
ORDER BY min(o.ordered_at);  -- rows land roughly in date order, so a period reads few pages

-- name: categories_clear
-- Product categories changed: the category rows are rebuilt from the order rollup.
DELETE FROM category_order_rollup;

-- name: categories_extend
-- The rollup rows of orders %(after)s < order_id folded per (order, category).
INSERT INTO category_order_rollup (order_id, category, customer_id, ordered_at, is_sale, sold, amount,
                                   sale_amount, units)
SELECT r.order_id, CASE WHEN r.product_id <> 0 THEN coalesce(p.category, 'uncategorized') END,
       min(r.customer_id), min(r.ordered_at), bool_and(r.is_sale), bool_or(r.sold), sum(r.amount),
       sum(r.sale_amount), sum(r.units)
FROM product_order_rollup r
LEFT JOIN products p ON p.product_id = r.product_id
WHERE r.order_id > %(after)s
GROUP BY r.order_id, 2
-- In order_id order: read from product_order_rollup's key, folded as it comes (no hash table, no sort of
-- a million rows). Order ids follow the imported file's order, for an order export its date order, so
-- rows still land roughly in date order and a period reads few pages.
ORDER BY r.order_id;

-- name: customers_build
-- The per-customer rows of a build (the table is empty and unindexed): the three grains in one plain
-- insert, each from the rollup that already has it, as customers_extend* would add them.
INSERT INTO product_customer_rollup (group_by, customer_id, item, sale_orders, sold_orders, amount, sale_amount,
                                     units)
SELECT 'product', coalesce(customer_id, 0), product_id::text, count(*) FILTER (WHERE is_sale),
       count(*) FILTER (WHERE sold), sum(amount), sum(sale_amount), sum(units)
FROM product_order_rollup
GROUP BY coalesce(customer_id, 0), product_id
UNION ALL
SELECT 'category', coalesce(customer_id, 0), coalesce(category, '(no product)'), count(*) FILTER (WHERE is_sale),
       count(*) FILTER (WHERE sold), sum(amount), sum(sale_amount), sum(units)
FROM category_order_rollup
GROUP BY 2, 3
UNION ALL
SELECT 'all', customer_id, '', count(*) FILTER (WHERE is_sale), count(*) FILTER (WHERE sold), sum(amount),
       sum(sale_amount), sum(units)
FROM (SELECT order_id, coalesce(min(customer_id), 0) AS customer_id, bool_and(is_sale) AS is_sale,
             bool_or(sold) AS sold, sum(amount) AS amount, sum(sale_amount) AS sale_amount, sum(units) AS units
      FROM category_order_rollup
      GROUP BY order_id) per_order
GROUP BY customer_id;

-- name: customers_extend
-- Add the orders %(after)s < order_id (already in the order rollups) to the per-customer rows, one
-- grain per statement from the rollup that already has it. Orders are new, so their counts and sums
-- simply add to what the customer had.
INSERT INTO product_customer_rollup AS t (group_by, customer_id, item, sale_orders, sold_orders, amount,
                                          sale_amount, units)
SELECT 'product', coalesce(customer_id, 0), product_id::text, count(*) FILTER (WHERE is_sale),
       count(*) FILTER (WHERE sold), sum(amount), sum(sale_amount), sum(units)
FROM product_order_rollup
WHERE order_id > %(after)s
GROUP BY 2, 3
ORDER BY 2, 3  -- key order: a segment's rows are read in index order, so it keeps the heap in it
ON CONFLICT (group_by, customer_id, item) DO UPDATE
SET sale_orders = t.sale_orders + excluded.sale_orders, sold_orders = t.sold_orders + excluded.sold_orders,
    amount = t.amount + excluded.amount, sale_amount = t.sale_amount + excluded.sale_amount,
    units = t.units + excluded.units;

-- name: customers_extend_categories
INSERT INTO product_customer_rollup AS t (group_by, customer_id, item, sale_orders, sold_orders, amount,
                                          sale_amount, units)
SELECT 'category', coalesce(customer_id, 0), coalesce(category, '(no product)'), count(*) FILTER (WHERE is_sale),
       count(*) FILTER (WHERE sold), sum(amount), sum(sale_amount), sum(units)
FROM category_order_rollup
WHERE order_id > %(after)s
GROUP BY 2, 3
ORDER BY 2, 3
ON CONFLICT (group_by, customer_id, item) DO UPDATE
SET sale_orders = t.sale_orders + excluded.sale_orders, sold_orders = t.sold_orders + excluded.sold_orders,
    amount = t.amount + excluded.amount, sale_amount = t.sale_amount + excluded.sale_amount,
    units = t.units + excluded.units;

-- name: customers_extend_totals
INSERT INTO product_customer_rollup AS t (group_by, customer_id, item, sale_orders, sold_orders, amount,
                                          sale_amount, units)
SELECT 'all', customer_id, '', count(*) FILTER (WHERE is_sale), count(*) FILTER (WHERE sold), sum(amount),
       sum(sale_amount), sum(units)
FROM (SELECT order_id, coalesce(min(customer_id), 0) AS customer_id, bool_and(is_sale) AS is_sale,
             bool_or(sold) AS sold, sum(amount) AS amount, sum(sale_amount) AS sale_amount, sum(units) AS units
      FROM category_order_rollup
      WHERE order_id > %(after)s
      GROUP BY order_id) per_order
GROUP BY customer_id
ORDER BY customer_id
ON CONFLICT (group_by, customer_id, item) DO UPDATE
SET sale_orders = t.sale_orders + excluded.sale_orders, sold_orders = t.sold_orders + excluded.sold_orders,
    amount = t.amount + excluded.amount, sale_amount = t.sale_amount + excluded.sale_amount,
    units = t.units + excluded.units;

-- name: facts_clear
-- After a fold, away with a stored period's answers when it is no longer one of the standard periods
-- (%(starts)s / %(ends)s, measured from the latest order), when it holds an order new since the last
-- refresh (ordered at %(changed_from)s or later), or when everything changed (%(everything)s: a rebuild
-- or recategorised products). The others still hold. (The all-history ones are derived: history_facts_clear.)
DELETE FROM product_group_facts
WHERE period_start <> '-infinity'
  AND (%(everything)s OR period_end > %(changed_from)s::timestamptz
       OR (period_start, period_end) NOT IN (SELECT * FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[])));

-- name: history_facts_clear
-- The all-history answers, stored again by each derive.
DELETE FROM product_group_facts WHERE period_start = '-infinity';

-- name: changed_from
-- The earliest order among those folded in since %(after)s (NULL: none with sale / return lines).
SELECT min(ordered_at) AS changed_from FROM product_order_rollup WHERE order_id > %(after)s;

-- name: facts_periods
-- The periods whose answers are stored, per group_by.
SELECT DISTINCT group_by, period_start, period_end FROM product_group_facts WHERE period_start <> '-infinity';

-- name: facts_copy
-- The stored answers, bulk-loaded (a standard period by product is a few thousand rows).
COPY product_group_facts (group_by, period_start, period_end, row_type, group_no, group_key, product_category,
                          revenue, gross_sales, returns, units, orders, customers, repeat_customers, groups)
FROM STDIN;

-- name: facts_sold
-- Each stored group's (and the total's) bought-together basis: the orders where it was bought, summed
-- over the per-customer rows (guests included, as customer 0).
UPDATE product_group_facts f
SET sold_orders = s.sold_orders
FROM (SELECT group_by, CASE WHEN item = '0' AND group_by = 'product' THEN '-1' ELSE item END AS group_key,
             sum(sold_orders) AS sold_orders
      FROM product_customer_rollup
      GROUP BY 1, 2) s
WHERE f.period_start = '-infinity' AND f.period_end = 'infinity'  -- the per-customer rows are all history
  AND ((f.row_type = 'group' AND s.group_by = f.group_by AND s.group_key = f.group_key)
       OR (f.row_type = 'total' AND s.group_by = 'all'));

-- name: rollup_analyze_orders
-- A build's order rollup, before the other grains are folded from it (the planner needs its size to
-- read it in key order).
ANALYZE product_order_rollup;

-- name: rollup_analyze
ANALYZE product_order_rollup, category_order_rollup;

-- name: rollup_analyze_categories
-- A build's category rows (its order rollup was analyzed as soon as it was built).
ANALYZE category_order_rollup;

-- name: rollup_analyze_customers
ANALYZE product_customer_rollup;

-- name: rollup_vacuum
-- After a refresh commits (VACUUM cannot run in a transaction): the pages it wrote become all-visible, so
-- the anchor lookups of bought-together stay index-only, and the rows a rebuild deleted are reused.
VACUUM (ANALYZE) product_order_rollup, category_order_rollup, product_customer_rollup, product_group_facts,
    product_pair_facts, product_segment_facts;

-- name: state_save
-- The order grains hold the orders up to %(last_order_id)s; with %(derive_again)s (a build, or
-- recategorised products) the derived tables are to be built from nothing (derived_order_id NULL).
INSERT INTO product_rollup_state (singleton, last_order_id, products_version)
VALUES (true, %(last_order_id)s, %(products_version)s)
ON CONFLICT (singleton) DO UPDATE
SET last_order_id = excluded.last_order_id, products_version = excluded.products_version, refreshed_at = now(),
    derived_order_id = CASE WHEN %(derive_again)s THEN NULL ELSE product_rollup_state.derived_order_id END;

-- name: derived_state_save
UPDATE product_rollup_state SET derived_order_id = %(last_order_id)s;

-- name: pairs_extend
-- Add the sale orders %(after)s < order_id to product_pair_facts: each order's bought categories as
-- anchors, paired with the order's other bought categories and products. 'uncategorized' is never an
-- anchor (the question's anchor matches products by their category, and those have none). Orders are
-- first grouped by the set of categories bought in them (a few hundred sets), so the pairs are counted
-- once per set, and per (product, set), instead of once per order.
WITH order_sets AS MATERIALIZED (  -- each order's bought categories (NULL: lines without a product)
    SELECT order_id, array_agg(category ORDER BY category) AS categories
    FROM category_order_rollup
    WHERE order_id > %(after)s AND sold
    GROUP BY order_id
), sets AS (
    SELECT categories, count(*) AS orders FROM order_sets GROUP BY categories
), set_anchors AS (  -- each set's anchors
    SELECT DISTINCT s.categories, lower(c.category) AS anchor
    FROM (SELECT DISTINCT categories FROM order_sets) s
    CROSS JOIN LATERAL unnest(s.categories) AS c(category)
    WHERE c.category IS NOT NULL AND c.category <> 'uncategorized'
), product_sets AS (
    SELECT r.product_id, lower(p.category) AS product_category, o.categories, count(*) AS orders
    FROM product_order_rollup r
    JOIN order_sets o ON o.order_id = r.order_id
    LEFT JOIN products p ON p.product_id = r.product_id
    WHERE r.order_id > %(after)s AND r.sold
    GROUP BY 1, 2, 3
), pairs AS (
    SELECT a.anchor, 'anchor' AS group_by, '' AS item, s.orders
    FROM set_anchors a
    JOIN sets s USING (categories)
    UNION ALL
    SELECT a.anchor, 'category', coalesce(c.category, '(no product)'), s.orders
    FROM set_anchors a
    JOIN sets s USING (categories)
    CROSS JOIN LATERAL unnest(a.categories) AS c(category)
    WHERE coalesce(lower(c.category) <> a.anchor, true)
    UNION ALL
    SELECT a.anchor, 'product', ps.product_id::text, ps.orders
    FROM product_sets ps
    JOIN set_anchors a USING (categories)
    WHERE coalesce(ps.product_category <> a.anchor, true)
)
INSERT INTO product_pair_facts AS t (anchor, group_by, item, orders_together)
SELECT anchor, group_by, item, sum(orders)
FROM pairs
GROUP BY 1, 2, 3
ON CONFLICT (anchor, group_by, item) DO UPDATE SET orders_together = t.orders_together + excluded.orders_together;

-- name: segment_facts_clear
DELETE FROM product_segment_facts;

-- name: segment_facts_build
-- product_segment_facts for run %(run_id)s: each member's per-customer rows, once per scope they
-- belong to (their dominant segment on each axis, their archetype), summed per (scope, group_by, item).
WITH scopes AS (
    SELECT p.customer_id, 'segment:' || s.key || ':' || s.value AS scope
    FROM customer_profiles p
    CROSS JOIN LATERAL jsonb_each_text(p.dominant_segments) s
    WHERE p.run_id = %(run_id)s
    UNION ALL
    SELECT p.customer_id, 'archetype:' || p.archetype_id
    FROM customer_profiles p
    WHERE p.run_id = %(run_id)s AND p.archetype_id IS NOT NULL
)
INSERT INTO product_segment_facts (run_id, scope, group_by, item, sale_orders, sold_orders, amount, sale_amount,
                                   units, customers, repeat_customers)
SELECT %(run_id)s, s.scope, r.group_by, r.item, sum(r.sale_orders), sum(r.sold_orders), sum(r.amount),
       sum(r.sale_amount), sum(r.units), count(*) FILTER (WHERE r.sale_orders >= 1),
       count(*) FILTER (WHERE r.sale_orders >= 2)
FROM product_customer_rollup r
JOIN scopes s ON s.customer_id = r.customer_id
GROUP BY s.scope, r.group_by, r.item;

-- name: segment_period_facts_build
-- product_segment_facts for run %(run_id)s over the period [%(start)s, %(end)s): the members' rows of
-- the period per customer (by product, by category, and whole orders), then summed per scope as
-- segment_facts_build does over all history.
WITH scopes AS (
    SELECT p.customer_id, 'segment:' || s.key || ':' || s.value AS scope
    FROM customer_profiles p
    CROSS JOIN LATERAL jsonb_each_text(p.dominant_segments) s
    WHERE p.run_id = %(run_id)s
    UNION ALL
    SELECT p.customer_id, 'archetype:' || p.archetype_id
    FROM customer_profiles p
    WHERE p.run_id = %(run_id)s AND p.archetype_id IS NOT NULL
), per_order AS (
    SELECT customer_id, 'product' AS group_by, product_id::text AS item, is_sale, sold, amount, sale_amount, units
    FROM product_order_rollup
    WHERE ordered_at >= %(start)s AND ordered_at < %(end)s AND customer_id IS NOT NULL
    UNION ALL
    SELECT customer_id, 'category', coalesce(category, '(no product)'), is_sale, sold, amount, sale_amount, units
    FROM category_order_rollup
    WHERE ordered_at >= %(start)s AND ordered_at < %(end)s AND customer_id IS NOT NULL
    UNION ALL
    SELECT min(customer_id), 'all', '', bool_and(is_sale), bool_or(sold), sum(amount), sum(sale_amount), sum(units)
    FROM category_order_rollup
    WHERE ordered_at >= %(start)s AND ordered_at < %(end)s AND customer_id IS NOT NULL
    GROUP BY order_id
), per_customer AS (
    SELECT customer_id, group_by, item, count(*) FILTER (WHERE is_sale) AS sale_orders,
           count(*) FILTER (WHERE sold) AS sold_orders, sum(amount) AS amount, sum(sale_amount) AS sale_amount,
           sum(units) AS units
    FROM per_order
    GROUP BY 1, 2, 3
)
INSERT INTO product_segment_facts (run_id, scope, period_start, period_end, group_by, item, sale_orders, sold_orders,
                                   amount, sale_amount, units, customers, repeat_customers)
SELECT %(run_id)s, s.scope, %(start)s, %(end)s, c.group_by, c.item, sum(c.sale_orders), sum(c.sold_orders),
       sum(c.amount), sum(c.sale_amount), sum(c.units), count(*) FILTER (WHERE c.sale_orders >= 1),
       count(*) FILTER (WHERE c.sale_orders >= 2)
FROM per_customer c
JOIN scopes s ON s.customer_id = c.customer_id
GROUP BY s.scope, c.group_by, c.item;

-- name: segment_state_save
INSERT INTO product_segment_state (singleton, run_id, last_order_id, products_version)
SELECT true, %(run_id)s, last_order_id, products_version FROM product_rollup_state
ON CONFLICT (singleton) DO UPDATE
SET run_id = excluded.run_id, last_order_id = excluded.last_order_id, products_version = excluded.products_version;
