-- The customer context shared by lookup_customer, Slack, the router and Gorgias.

-- name: customer
-- Store facts plus the customer's profile in the given run (NULLs when the run does not know them).
SELECT c.customer_id, c.public_id, c.store_customer_id, c.name, c.email, c.phone, c.country,
       p.run_id, p.orders, p.revenue, p.first_order_at, p.last_order_at, p.avg_order_value,
       p.recency_days, p.tenure_days, p.history, p.memberships, p.dominant_segments,
       p.segment_strengths, p.archetype_id, p.probability_alive, p.churn_probability,
       p.risk_level, p.churn_reasons, p.expected_purchases_30d, p.expected_purchases_90d,
       p.predicted_clv_12m, p.value_tier, a.name AS archetype_name
FROM customers c
LEFT JOIN customer_profiles p ON p.customer_id = c.customer_id AND p.run_id = %(run_id)s
LEFT JOIN archetypes a ON a.run_id = p.run_id AND a.archetype_id = p.archetype_id
WHERE c.customer_id = %(customer_id)s;

-- name: order_stats
-- Live figures from the orders themselves, up to %(as_of)s (NULL: all of them): the fallback when
-- the run has no profile for this customer, and the source of the return/discount risk signals.
SELECT count(*) FILTER (WHERE kind = 'sale')                                   AS orders,
       coalesce(sum(total) FILTER (WHERE kind IN ('sale', 'return')), 0)      AS revenue,
       min(ordered_at) FILTER (WHERE kind = 'sale')                            AS first_order_at,
       max(ordered_at) FILTER (WHERE kind = 'sale')                            AS last_order_at,
       count(*) FILTER (WHERE kind = 'sale' AND discount_total > 0)            AS discounted_orders,
       max(ordered_at) FILTER (WHERE kind = 'return')                          AS last_return_at,
       (SELECT max(ordered_at) FROM orders)                                    AS store_latest_order_at
FROM orders
WHERE customer_id = %(customer_id)s
  AND (%(as_of)s::timestamptz IS NULL OR ordered_at <= %(as_of)s::timestamptz);

-- name: orders_since_run
-- A profiled customer's orders after the run's %(as_of)s (arrived since: a sync, a webhook, an
-- import): added to the run's figures so recency, last order and spend are current before the next
-- run re-scores. The same definitions as order_stats.
SELECT count(*) FILTER (WHERE kind = 'sale')                              AS orders_since_run,
       coalesce(sum(total) FILTER (WHERE kind IN ('sale', 'return')), 0) AS revenue_since_run,
       max(ordered_at) FILTER (WHERE kind = 'sale')                       AS last_order_since_run
FROM orders
WHERE customer_id = %(customer_id)s AND ordered_at > %(as_of)s::timestamptz;

-- name: recent_orders
-- The last few orders with item counts and categories; never addresses or codes. The lines are
-- read per order (LATERAL) so the order_lines primary key is used, whatever the statistics say.
SELECT o.ordered_at, o.kind, o.total, o.discount_total, li.items, li.categories
FROM (SELECT order_id, ordered_at, kind, total, discount_total
      FROM orders
      WHERE customer_id = %(customer_id)s
      ORDER BY ordered_at DESC, order_id DESC
      LIMIT %(limit)s) o
CROSS JOIN LATERAL (
    SELECT coalesce(sum(abs(l.quantity)), 0)::int                         AS items,
           coalesce(array_agg(DISTINCT pr.category ORDER BY pr.category)
                    FILTER (WHERE pr.category IS NOT NULL), '{}')          AS categories
    FROM order_lines l
    LEFT JOIN products pr ON pr.product_id = l.product_id
    WHERE l.order_id = o.order_id
) li
ORDER BY o.ordered_at DESC, o.order_id DESC;
