-- History series for the forecast_metrics tool. Days are UTC calendar days, like the period grammar.
-- Revenue is net (sales plus returns, which carry negative totals); adjustments are never counted;
-- orders and active customers count sales only.

-- name: daily
SELECT (o.ordered_at AT TIME ZONE 'UTC')::date AS day,
       sum(o.total) AS revenue,
       count(*) FILTER (WHERE o.kind = 'sale') AS orders
FROM orders o
WHERE o.kind IN ('sale', 'return')
GROUP BY 1
ORDER BY 1;

-- name: weekly_active
-- Distinct buying customers per 7-day block ending on %(last_day)s (weeks_back 0 = the newest block).
SELECT (%(last_day)s::date - (o.ordered_at AT TIME ZONE 'UTC')::date) / 7 AS weeks_back,
       count(DISTINCT o.customer_id) AS customers
FROM orders o
WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL
  AND o.ordered_at < (%(last_day)s::date + 1)::timestamp AT TIME ZONE 'UTC'
GROUP BY 1
ORDER BY 1;

-- name: distinct_customers
-- Distinct buying customers in the %(days)s days ending on %(last_day)s: repeat buyers count once,
-- unlike in the sum of weekly counts (the ratio of the two scales a weekly forecast to a window).
SELECT count(DISTINCT o.customer_id) AS customers
FROM orders o
WHERE o.kind = 'sale' AND o.customer_id IS NOT NULL
  AND o.ordered_at >= (%(last_day)s::date + 1 - %(days)s::int)::timestamp AT TIME ZONE 'UTC'
  AND o.ordered_at < (%(last_day)s::date + 1)::timestamp AT TIME ZONE 'UTC';

-- name: expected_repeat_purchases
-- The buy-till-you-die view of the current run: purchases its customers are expected to make in the
-- 90 days after the run's as-of date (BG/NBD), summed over everyone.
SELECT count(*) AS customers,
       coalesce(sum(expected_purchases_90d), 0) AS expected_purchases_90d
FROM customer_profiles
WHERE run_id = %(run_id)s;
