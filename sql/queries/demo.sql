-- What the zero-config demo reports about the loaded store and the current discovery run.

-- name: store_summary
-- Revenue is net: sale totals (after line discounts) plus return totals (negative).
SELECT (SELECT count(DISTINCT customer_id) FROM orders WHERE customer_id IS NOT NULL) AS customers,
       count(*) FILTER (WHERE kind = 'sale')                                        AS sale_orders,
       count(*) FILTER (WHERE kind = 'return')                                      AS return_orders,
       count(*) FILTER (WHERE kind = 'sale' AND customer_id IS NULL)                AS guest_orders,
       (SELECT count(*) FROM order_lines)                                           AS lines,
       min(ordered_at)                                                              AS first_order_at,
       max(ordered_at)                                                              AS last_order_at,
       coalesce(sum(total) FILTER (WHERE kind IN ('sale', 'return')), 0)           AS net_revenue
FROM orders;

-- name: has_orders
SELECT EXISTS (SELECT 1 FROM orders) AS has_orders;

-- name: current_run
SELECT run_id, as_of, finished_at,
       coalesce((counts ->> 'customers')::int, 0)  AS customers,
       coalesce((counts ->> 'archetypes')::int, 0) AS archetypes
FROM discovery_runs
WHERE is_current
LIMIT 1;
