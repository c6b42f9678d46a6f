-- Discovery runs as the analytics tools see them: the current one, and earlier published ones.

-- name: current
SELECT run_id, as_of, finished_at
FROM discovery_runs
WHERE is_current
LIMIT 1;

-- name: current_figures
-- The current run's age and headline figures, for /health/ready and the /metrics gauges.
SELECT run_id,
       extract(epoch FROM now() - coalesce(finished_at, started_at))::float8 AS age_seconds,
       extract(epoch FROM finished_at - started_at)::float8                 AS duration_seconds,
       (counts ->> 'customers')::int                                         AS customers,
       (metrics ->> 'churn_auc')::float8                                     AS churn_auc
FROM discovery_runs
WHERE is_current
LIMIT 1;

-- name: days_ago
-- The newest published run at least `days` days older than the current one, by data date (as_of)
-- or, when the data has not moved (same as_of), by when it finished. Half a day of slack: runs are
-- scheduled, and a run "as of 2024-12-03" (end of day) is the one 28 days before 2024-12-31.
SELECT r.run_id, r.as_of, r.finished_at
FROM discovery_runs r, discovery_runs c
WHERE c.is_current
  AND r.run_id <> c.run_id
  AND r.status = 'published'
  AND (r.as_of <= c.as_of - make_interval(days => %(days)s) + interval '12 hours'
       OR r.finished_at <= c.finished_at - make_interval(days => %(days)s) + interval '12 hours')
ORDER BY r.as_of DESC, r.finished_at DESC NULLS LAST
LIMIT 1;

-- name: previous
SELECT r.run_id, r.as_of, r.finished_at
FROM discovery_runs r, discovery_runs c
WHERE c.is_current
  AND r.run_id <> c.run_id
  AND r.status = 'published'
  AND r.finished_at <= c.finished_at
ORDER BY r.finished_at DESC, r.run_id DESC
LIMIT 1;

-- name: quality
-- What a run measured about its own models, and the data behind it (prediction_quality).
SELECT r.run_id, r.as_of, r.metrics,
       (SELECT count(DISTINCT customer_id) FROM orders
         WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at <= r.as_of)                 AS buyers,
       (SELECT min(ordered_at) FROM orders WHERE kind = 'sale' AND ordered_at <= r.as_of)            AS first_order_at,
       (SELECT count(*) FROM orders WHERE kind = 'sale' AND ordered_at <= r.as_of
                                     AND ordered_at > r.as_of - interval '30 days')                   AS orders_last_30_days,
       (SELECT count(*) FROM customer_profiles p WHERE p.run_id = r.run_id AND p.orders >= 3)       AS customers_with_3_orders
FROM discovery_runs r
WHERE r.run_id = %(run_id)s;
