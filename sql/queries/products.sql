-- Product and category performance for the analyze_products tool.
--
-- Every query takes the same scope parameters:
--   %(start)s, %(end)s            timestamptz or NULL: orders with start <= ordered_at < end
--   %(run_id)s                    the current discovery run (NULL when no customer filter is used)
--   %(segment)s                   jsonb like {"frequency": "frequent"} or NULL: dominant segment filter
--   %(archetype_id)s              text or NULL
--   %(category)s                  text or NULL: only lines of this category (case-insensitive)
-- Money is line value after line discounts. Returns (negative quantities) are netted into revenue
-- in the period they were booked; orders, customers and repeat purchase count sales only;
-- adjustments (bookkeeping rows) are never counted.

-- name: tuning
-- For the rest of the transaction: these queries scan every line of the store once, which the
-- planner prices high enough to trigger JIT compilation — seconds of compiling for a query that runs
-- in one pass; and hash aggregates that fit in 64 MB instead of spilling to disk.
SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true);

-- name: data_version
-- Cheap (two index lookups): the reference date for periods and a fingerprint for cache keys.
SELECT max(ordered_at) AS latest_order_at, max(order_id) AS last_order_id FROM orders;

-- name: categories
SELECT coalesce(category, 'uncategorized') AS category, count(*) AS products
FROM products
GROUP BY 1
ORDER BY products DESC, category;

-- name: scope_customers
-- How many customers the segment / archetype filter selects (for the small-group rule).
SELECT count(*) AS customers
FROM customer_profiles
WHERE run_id = %(run_id)s
  AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
  AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s);

-- name: find_product
-- A product named by SKU (exact, any case) or by words that all occur in its title; the best
-- seller wins when several match. `matches` says how many did.
WITH candidates AS (
    SELECT p.product_id, p.sku, p.title, p.category,
           (lower(p.sku) = lower(%(text)s)) AS sku_match
    FROM products p
    WHERE lower(p.sku) = lower(%(text)s)
       OR (cardinality(%(words)s::text[]) > 0
           AND NOT EXISTS (SELECT 1 FROM unnest(%(words)s::text[]) AS w(word)
                           WHERE p.title NOT ILIKE '%%' || w.word || '%%'))
), sold AS (
    SELECT l.product_id, count(*) AS lines
    FROM order_lines l
    WHERE l.product_id IN (SELECT product_id FROM candidates) AND l.kind = 'sale'
    GROUP BY l.product_id
)
SELECT c.product_id, c.sku, c.title, c.category, count(*) OVER () AS matches
FROM candidates c
LEFT JOIN sold s USING (product_id)
ORDER BY c.sku_match DESC, coalesce(s.lines, 0) DESC, c.sku
LIMIT 1;

-- name: summary
-- One pass over the matching lines: a 'total' row for the whole matching set, then one page of
-- 'group' rows (category or product, %(group_by)s) ranked by %(sort_by)s. Lines are first folded to
-- one row per (group, order), so orders and repeat buyers are plain counts instead of DISTINCTs; a
-- buyer repeats when two or more of their sale orders hold the group. Groups are numbered first
-- (a product's own id, or its category's rank) so the big fold sorts integers, not text.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), product_groups AS (
    SELECT product_id, coalesce(category, 'uncategorized') AS category,
           CASE WHEN %(group_by)s = 'product' THEN product_id
                ELSE dense_rank() OVER (ORDER BY coalesce(category, 'uncategorized')) END AS group_no
    FROM products
    UNION ALL
    SELECT 0, NULL, -1  -- lines without a product (kept in the money, shown as '(no product)')
), per_order AS MATERIALIZED (
    SELECT pg.group_no, l.order_id,
           min(o.customer_id) AS customer_id, bool_and(o.kind = 'sale') AS is_sale,
           sum(l.amount) AS amount,
           coalesce(sum(l.amount) FILTER (WHERE l.kind = 'sale'), 0) AS sale_amount,
           sum(l.quantity) AS units
    FROM orders o
    -- float8 sums keep the per-group state small (numeric sums spill the fold to disk); money is
    -- rounded to cents at the end, far above float8's error on these totals.
    JOIN (SELECT order_id, coalesce(product_id, 0) AS product_id, kind, quantity,
                 (quantity * unit_price - discount)::double precision AS amount
          FROM order_lines) l ON l.order_id = o.order_id
    JOIN product_groups pg ON pg.product_id = l.product_id
    WHERE o.kind IN ('sale', 'return') AND l.kind IN ('sale', 'return')
      AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s)
      AND (%(category)s::text IS NULL OR lower(pg.category) = lower(%(category)s))
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR o.customer_id IN (SELECT customer_id FROM members))
    GROUP BY 1, l.order_id
), groups AS (
    SELECT group_no,
           sum(amount) AS revenue, sum(sale_amount) AS gross_sales, sum(sale_amount - amount) AS returns,
           sum(units) AS units, count(*) FILTER (WHERE is_sale) AS orders
    FROM per_order
    GROUP BY group_no
), buyers AS (
    SELECT group_no, count(*) AS customers, count(*) FILTER (WHERE orders >= 2) AS repeat_customers
    FROM (SELECT group_no, customer_id, count(*) AS orders
          FROM per_order
          WHERE is_sale AND customer_id IS NOT NULL
          GROUP BY group_no, customer_id) per_buyer
    GROUP BY group_no
), ranked AS (
    SELECT g.group_no, g.revenue, g.gross_sales, g.returns, g.units, g.orders,
           coalesce(b.customers, 0) AS customers, coalesce(b.repeat_customers, 0) AS repeat_customers,
           b.repeat_customers::double precision / nullif(b.customers, 0) AS repeat_rate,
           row_number() OVER (ORDER BY CASE %(sort_by)s
                                           WHEN 'orders' THEN g.orders::numeric
                                           WHEN 'customers' THEN b.customers::numeric
                                           WHEN 'repeat_rate' THEN (b.repeat_customers::double precision
                                                                    / nullif(b.customers, 0))::numeric
                                           ELSE g.revenue END DESC NULLS LAST,
                                       g.revenue DESC, g.group_no) AS position
    FROM groups g
    LEFT JOIN buyers b USING (group_no)
), by_order AS (
    SELECT order_id, min(customer_id) AS customer_id, bool_or(is_sale) AS is_sale FROM per_order GROUP BY order_id
), by_buyer AS (
    SELECT customer_id, count(*) AS orders FROM by_order
    WHERE is_sale AND customer_id IS NOT NULL GROUP BY customer_id
)
SELECT 'total' AS row_type, 0::bigint AS position, NULL::text AS group_key, NULL::text AS sku, NULL::text AS title,
       NULL::text AS product_category,
       (SELECT coalesce(sum(revenue), 0) FROM groups) AS revenue,
       (SELECT coalesce(sum(gross_sales), 0) FROM groups) AS gross_sales,
       (SELECT coalesce(sum(returns), 0) FROM groups) AS returns,
       (SELECT coalesce(sum(units), 0) FROM groups) AS units,
       (SELECT count(*) FROM by_order WHERE is_sale) AS orders,
       (SELECT count(*) FROM by_buyer) AS customers,
       (SELECT count(*) FROM by_buyer WHERE orders >= 2) AS repeat_customers,
       NULL::double precision AS repeat_rate,
       (SELECT count(*) FROM groups) AS groups
UNION ALL
SELECT 'group', r.position,
       CASE WHEN %(group_by)s = 'product' THEN r.group_no::text
            ELSE coalesce((SELECT min(pg.category) FROM product_groups pg WHERE pg.group_no = r.group_no),
                          '(no product)') END,
       p.sku, p.title,
       CASE WHEN %(group_by)s = 'product' THEN coalesce(p.category, 'uncategorized') END,
       r.revenue, r.gross_sales, r.returns, r.units, r.orders, r.customers, r.repeat_customers,
       r.repeat_rate, NULL
FROM ranked r
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = r.group_no
WHERE r.position <= %(limit)s
ORDER BY position;

-- name: bought_together
-- Co-occurrence with an anchor (products %(anchor_ids)s, or the category %(anchor_category)s) in the
-- same sale order: support = share of all orders in scope holding both, confidence = share of the
-- anchor's orders holding the other item, lift = confidence / the other item's own order share.
-- Lines are folded to one row per (order, group) first, integers only, as in `summary`.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), product_groups AS (
    SELECT product_id, category,
           CASE WHEN %(group_by)s = 'product' THEN product_id
                ELSE dense_rank() OVER (ORDER BY coalesce(category, 'uncategorized')) END AS group_no,
           (product_id = ANY (%(anchor_ids)s::bigint[])
            OR coalesce(lower(category) = lower(%(anchor_category)s::text), false)) AS is_anchor
    FROM products
    UNION ALL
    SELECT 0, NULL, -1, false
), sold AS MATERIALIZED (
    SELECT l.order_id, pg.group_no, bool_or(pg.is_anchor) AS has_anchor, bool_or(NOT pg.is_anchor) AS has_other
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    JOIN product_groups pg ON pg.product_id = coalesce(l.product_id, 0)
    WHERE o.kind = 'sale' AND l.kind = 'sale' AND l.quantity > 0
      AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s)
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR o.customer_id IN (SELECT customer_id FROM members))
    GROUP BY l.order_id, pg.group_no
), per_order AS (
    SELECT order_id, bool_or(has_anchor) AS has_anchor FROM sold GROUP BY order_id
), counts AS (
    SELECT count(*) AS all_orders, count(*) FILTER (WHERE has_anchor) AS anchor_orders FROM per_order
), item_orders AS (
    SELECT group_no, count(*) AS orders_with_item FROM sold WHERE has_other GROUP BY group_no
), together AS (
    SELECT s.group_no, count(*) AS orders_together
    FROM sold s
    JOIN per_order a ON a.order_id = s.order_id AND a.has_anchor
    WHERE s.has_other
    GROUP BY s.group_no
)
SELECT CASE WHEN %(group_by)s = 'product' THEN t.group_no::text
            ELSE coalesce((SELECT min(coalesce(pg.category, 'uncategorized')) FROM product_groups pg
                           WHERE pg.group_no = t.group_no AND pg.product_id <> 0), '(no product)') END AS group_key,
       t.orders_together, io.orders_with_item, c.anchor_orders, c.all_orders,
       t.orders_together::double precision / c.all_orders AS support,
       t.orders_together::double precision / c.anchor_orders AS confidence,
       (t.orders_together::double precision / c.anchor_orders)
         / (io.orders_with_item::double precision / c.all_orders) AS lift,
       p.sku, p.title, coalesce(p.category, 'uncategorized') AS product_category
FROM together t
JOIN item_orders io USING (group_no)
CROSS JOIN counts c
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id = t.group_no
-- Items common enough to matter (in 1 percent of the anchor's orders, at least 3) by lift; a pair seen
-- a handful of times can have any lift, so the rest follow by how often they were bought together.
ORDER BY (t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))) DESC,
         CASE WHEN t.orders_together >= greatest(3, ceil(0.01 * c.anchor_orders))
              THEN t.orders_together::double precision * c.all_orders / (c.anchor_orders * io.orders_with_item)
         END DESC,
         t.orders_together DESC, lift DESC, t.group_no
LIMIT %(limit)s;

-- name: anchor_orders
-- How many sale orders in scope hold the anchor (reported even when nothing else was bought with it).
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
)
SELECT count(DISTINCT o.order_id) AS anchor_orders
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
LEFT JOIN products p ON p.product_id = l.product_id
WHERE o.kind = 'sale' AND l.kind = 'sale' AND l.quantity > 0
  AND (l.product_id = ANY (%(anchor_ids)s::bigint[]) OR lower(p.category) = lower(%(anchor_category)s::text))
  AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s)
  AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s)
  AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
       OR o.customer_id IN (SELECT customer_id FROM members));
