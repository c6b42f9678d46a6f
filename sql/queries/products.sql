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

-- name: breakdown
-- One row per category or product (%(group_by)s), ranked by %(sort_by)s, one page of it, with the
-- number of groups in the whole matching set.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), scoped AS (
    SELECT o.order_id, o.customer_id, l.kind, l.quantity,
           l.quantity * l.unit_price - l.discount AS amount,
           CASE WHEN %(group_by)s = 'product' THEN coalesce(l.product_id, 0)::text
                ELSE coalesce(p.category, 'uncategorized') END AS group_key
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    LEFT JOIN products p ON p.product_id = l.product_id
    WHERE o.kind IN ('sale', 'return') AND l.kind IN ('sale', 'return')
      AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s)
      AND (%(category)s::text IS NULL OR lower(p.category) = lower(%(category)s))
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR o.customer_id IN (SELECT customer_id FROM members))
), per_buyer AS (
    SELECT group_key, customer_id, count(DISTINCT order_id) AS orders
    FROM scoped
    WHERE kind = 'sale' AND customer_id IS NOT NULL
    GROUP BY group_key, customer_id
), buyers AS (
    SELECT group_key, count(*) AS customers, count(*) FILTER (WHERE orders >= 2) AS repeat_customers
    FROM per_buyer
    GROUP BY group_key
), groups AS (
    SELECT group_key,
           sum(amount) AS revenue,
           coalesce(sum(amount) FILTER (WHERE kind = 'sale'), 0) AS gross_sales,
           coalesce(-sum(amount) FILTER (WHERE kind = 'return'), 0) AS returns,
           sum(quantity) AS units,
           count(DISTINCT order_id) FILTER (WHERE kind = 'sale') AS orders
    FROM scoped
    GROUP BY group_key
), ranked AS (
    SELECT g.*, coalesce(b.customers, 0) AS customers, coalesce(b.repeat_customers, 0) AS repeat_customers,
           b.repeat_customers::double precision / nullif(b.customers, 0) AS repeat_rate,
           count(*) OVER () AS total_groups
    FROM groups g
    LEFT JOIN buyers b USING (group_key)
)
SELECT r.group_key, r.revenue, r.gross_sales, r.returns, r.units, r.orders, r.customers,
       r.repeat_customers, r.repeat_rate, r.total_groups,
       p.sku, p.title, coalesce(p.category, CASE WHEN %(group_by)s = 'product' THEN 'uncategorized' END) AS product_category
FROM ranked r
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id::text = r.group_key
ORDER BY CASE %(sort_by)s
             WHEN 'orders' THEN r.orders::numeric
             WHEN 'customers' THEN r.customers::numeric
             WHEN 'repeat_rate' THEN r.repeat_rate::numeric
             ELSE r.revenue END DESC NULLS LAST,
         r.revenue DESC, r.group_key
LIMIT %(limit)s;

-- name: totals
-- The whole matching set (not just the page): money, orders, buyers and their repeat rate.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), scoped AS (
    SELECT o.order_id, o.customer_id, l.kind, l.quantity, l.quantity * l.unit_price - l.discount AS amount
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    LEFT JOIN products p ON p.product_id = l.product_id
    WHERE o.kind IN ('sale', 'return') AND l.kind IN ('sale', 'return')
      AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s)
      AND (%(category)s::text IS NULL OR lower(p.category) = lower(%(category)s))
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR o.customer_id IN (SELECT customer_id FROM members))
), per_buyer AS (
    SELECT customer_id, count(DISTINCT order_id) AS orders
    FROM scoped
    WHERE kind = 'sale' AND customer_id IS NOT NULL
    GROUP BY customer_id
)
SELECT coalesce(sum(amount), 0) AS revenue,
       coalesce(sum(amount) FILTER (WHERE kind = 'sale'), 0) AS gross_sales,
       coalesce(-sum(amount) FILTER (WHERE kind = 'return'), 0) AS returns,
       coalesce(sum(quantity), 0) AS units,
       count(DISTINCT order_id) FILTER (WHERE kind = 'sale') AS orders,
       (SELECT count(*) FROM per_buyer) AS customers,
       (SELECT count(*) FILTER (WHERE orders >= 2) FROM per_buyer) AS repeat_customers
FROM scoped;

-- name: bought_together
-- Co-occurrence with an anchor (products %(anchor_ids)s, or the category %(anchor_category)s) in the
-- same sale order: support = share of all orders in scope holding both, confidence = share of the
-- anchor's orders holding the other item, lift = confidence / the other item's own order share.
WITH members AS (
    SELECT customer_id
    FROM customer_profiles
    WHERE run_id = %(run_id)s
      AND (%(segment)s::jsonb IS NULL OR dominant_segments @> %(segment)s::jsonb)
      AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s)
), sold AS (
    SELECT DISTINCT o.order_id, l.product_id,
           coalesce(p.category, 'uncategorized') AS category,
           (l.product_id = ANY (%(anchor_ids)s::bigint[])
            OR lower(p.category) = lower(%(anchor_category)s::text)) AS is_anchor
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    LEFT JOIN products p ON p.product_id = l.product_id
    WHERE o.kind = 'sale' AND l.kind = 'sale' AND l.quantity > 0
      AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s)
      AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s)
      AND (%(run_id)s::bigint IS NULL OR (%(segment)s::jsonb IS NULL AND %(archetype_id)s::text IS NULL)
           OR o.customer_id IN (SELECT customer_id FROM members))
), all_orders AS (
    SELECT count(DISTINCT order_id) AS n FROM sold
), anchor_orders AS (
    SELECT DISTINCT order_id FROM sold WHERE is_anchor
), items AS (
    SELECT DISTINCT order_id,
           CASE WHEN %(group_by)s = 'product' THEN coalesce(product_id, 0)::text ELSE category END AS group_key
    FROM sold
    WHERE NOT coalesce(is_anchor, false)
), item_orders AS (
    SELECT group_key, count(*) AS orders_with_item FROM items GROUP BY group_key
), together AS (
    SELECT i.group_key, count(*) AS orders_together
    FROM items i
    JOIN anchor_orders a ON a.order_id = i.order_id
    GROUP BY i.group_key
)
SELECT t.group_key, t.orders_together, io.orders_with_item,
       (SELECT count(*) FROM anchor_orders) AS anchor_orders,
       n.n AS all_orders,
       t.orders_together::double precision / n.n AS support,
       t.orders_together::double precision / (SELECT count(*) FROM anchor_orders) AS confidence,
       (t.orders_together::double precision / (SELECT count(*) FROM anchor_orders))
         / (io.orders_with_item::double precision / n.n) AS lift,
       p.sku, p.title, p.category AS product_category
FROM together t
JOIN item_orders io USING (group_key)
CROSS JOIN all_orders n
LEFT JOIN products p ON %(group_by)s = 'product' AND p.product_id::text = t.group_key
ORDER BY t.orders_together DESC, lift DESC, t.group_key
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
