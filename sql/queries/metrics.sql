-- store_metrics: the store's own figures, one definition for every surface (DESIGN.md):
-- sales are kind = 'sale' orders (guest orders included, not counted as customers); line value =
-- quantity × unit price − line discount (an order's `total`); returns are return orders, dated
-- when returned; net revenue = gross sales − returns; AOV = gross sales / sale orders; return rate
-- = returns / gross sales; a new customer's first sale order falls in the period.
-- Bounds are [%(start)s, %(end)s) timestamps, NULL for open ends.

-- name: latest_order
SELECT max(ordered_at) AS latest_order_at FROM orders WHERE kind IN ('sale', 'return');

-- name: order_figures
-- Per label of %(by)s: none (one 'all' row), day | week (Monday) | month | quarter | year (UTC),
-- country, segment (on %(axis)s) or archetype (of run %(run_id)s; guests and customers the run
-- has not scored get their own labels).
WITH scoped AS MATERIALIZED (
    SELECT o.order_id, o.customer_id, o.kind, o.total, o.discount_total,
           CASE %(by)s
               WHEN 'day'     THEN to_char(o.ordered_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')
               WHEN 'week'    THEN to_char(date_trunc('week', o.ordered_at AT TIME ZONE 'UTC'), 'YYYY-MM-DD')
               WHEN 'month'   THEN to_char(o.ordered_at AT TIME ZONE 'UTC', 'YYYY-MM')
               WHEN 'quarter' THEN to_char(o.ordered_at AT TIME ZONE 'UTC', 'YYYY-"Q"Q')
               WHEN 'year'    THEN to_char(o.ordered_at AT TIME ZONE 'UTC', 'YYYY')
               WHEN 'country' THEN coalesce(nullif(btrim(o.country), ''), 'unknown')
               WHEN 'segment' THEN CASE WHEN o.customer_id IS NULL THEN 'guest orders'
                                        ELSE coalesce(p.dominant_segments ->> %(axis)s::text, 'not scored yet') END
               WHEN 'archetype' THEN CASE WHEN o.customer_id IS NULL THEN 'guest orders'
                                          ELSE coalesce(p.archetype_id, 'not scored yet') END
               ELSE 'all'
           END AS label
    FROM orders o
    LEFT JOIN customer_profiles p
           ON %(by)s IN ('segment', 'archetype') AND p.run_id = %(run_id)s AND p.customer_id = o.customer_id
    WHERE o.kind IN ('sale', 'return')
      AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s::timestamptz)
      AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s::timestamptz)
), firsts AS (
    -- Each customer's first sale order ever (ties by order id): "new" when it is in scope.
    SELECT DISTINCT ON (customer_id) customer_id, order_id
    FROM orders
    WHERE kind = 'sale' AND customer_id IS NOT NULL
    ORDER BY customer_id, ordered_at, order_id
), units AS (
    SELECT l.order_id, sum(l.quantity) AS units
    FROM order_lines l
    JOIN scoped s ON s.order_id = l.order_id AND s.kind = 'sale'
    GROUP BY l.order_id
), per_customer AS (
    SELECT label, customer_id, count(*) AS orders
    FROM scoped
    WHERE kind = 'sale' AND customer_id IS NOT NULL
    GROUP BY label, customer_id
), repeaters AS (
    SELECT label, count(*) FILTER (WHERE orders >= 2) AS repeat_customers
    FROM per_customer
    GROUP BY label
), figures AS (
    SELECT s.label,
           coalesce(sum(s.total) FILTER (WHERE s.kind = 'sale'), 0)               AS gross_sales,
           coalesce(-sum(s.total) FILTER (WHERE s.kind = 'return'), 0)            AS returns,
           coalesce(sum(s.discount_total) FILTER (WHERE s.kind = 'sale'), 0)      AS discounts,
           count(*) FILTER (WHERE s.kind = 'sale')                                AS orders,
           count(*) FILTER (WHERE s.kind = 'sale' AND s.customer_id IS NULL)      AS guest_orders,
           coalesce(sum(u.units), 0)                                              AS units,
           count(DISTINCT s.customer_id) FILTER (WHERE s.kind = 'sale')           AS active_customers,
           count(f.order_id)                                                      AS new_customers
    FROM scoped s
    LEFT JOIN units u ON u.order_id = s.order_id
    LEFT JOIN firsts f ON f.order_id = s.order_id
    GROUP BY s.label
)
SELECT f.*, coalesce(r.repeat_customers, 0) AS repeat_customers
FROM figures f
LEFT JOIN repeaters r ON r.label = f.label
ORDER BY f.label;

-- name: line_figures
-- Per category or product (%(by)s) from the order lines: what applies to a part of an order
-- (sales, returns, discounts, units, orders and buyers holding it); ranked by net revenue.
SELECT CASE %(by)s WHEN 'category' THEN coalesce(pr.category, 'uncategorized') ELSE coalesce(pr.sku, 'unknown') END AS label,
       CASE %(by)s WHEN 'product' THEN max(pr.title) END                                           AS title,
       coalesce(sum(l.quantity * l.unit_price - l.discount) FILTER (WHERE o.kind = 'sale'), 0)     AS gross_sales,
       coalesce(-sum(l.quantity * l.unit_price - l.discount) FILTER (WHERE o.kind = 'return'), 0)  AS returns,
       coalesce(sum(l.discount) FILTER (WHERE o.kind = 'sale'), 0)                                 AS discounts,
       count(DISTINCT o.order_id) FILTER (WHERE o.kind = 'sale')                                   AS orders,
       count(DISTINCT o.order_id) FILTER (WHERE o.kind = 'sale' AND o.customer_id IS NULL)         AS guest_orders,
       coalesce(sum(l.quantity) FILTER (WHERE o.kind = 'sale'), 0)                                 AS units,
       count(DISTINCT o.customer_id) FILTER (WHERE o.kind = 'sale')                                AS active_customers
FROM order_lines l
JOIN orders o ON o.order_id = l.order_id
LEFT JOIN products pr ON pr.product_id = l.product_id
WHERE o.kind IN ('sale', 'return')
  AND (%(start)s::timestamptz IS NULL OR o.ordered_at >= %(start)s::timestamptz)
  AND (%(end)s::timestamptz IS NULL OR o.ordered_at < %(end)s::timestamptz)
GROUP BY 1
ORDER BY coalesce(sum(l.quantity * l.unit_price - l.discount) FILTER (WHERE o.kind = 'sale'), 0)
       - coalesce(-sum(l.quantity * l.unit_price - l.discount) FILTER (WHERE o.kind = 'return'), 0) DESC, 1
LIMIT %(limit)s;

-- name: archetype_names
SELECT archetype_id, name FROM archetypes WHERE run_id = %(run_id)s;
