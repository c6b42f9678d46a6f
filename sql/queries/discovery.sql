-- Discovery: what a run reads from the store tables and how it publishes. Read with
-- sql.query("discovery.NAME"). Every read is bounded by the run's as-of date.

-- name: order_facts
-- One row per sale or return order of a known customer up to as_of.
SELECT o.order_id,
       o.customer_id,
       o.ordered_at,
       o.kind,
       o.subtotal,
       o.discount_total,
       o.total,
       (coalesce(o.discount_code, '') <> '' OR o.discount_total > 0) AS discounted
FROM orders o
WHERE o.customer_id IS NOT NULL
  AND o.kind IN ('sale', 'return')
  AND o.ordered_at <= %(as_of)s

-- name: sale_lines
-- The purchased lines of known customers up to as_of: only integer ids and quantities, so the
-- bulk read stays small; basket breadth and repurchase are aggregated with NumPy from these.
SELECT o.customer_id, l.order_id, coalesce(l.product_id, 0) AS product_id, l.quantity
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
WHERE o.customer_id IS NOT NULL AND o.kind = 'sale' AND l.quantity > 0
  AND o.ordered_at <= %(as_of)s

-- name: product_categories
SELECT product_id, coalesce(category, '') AS category FROM products

-- name: latest_order_at
SELECT max(ordered_at) AS latest FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL

-- name: count_sale_orders
SELECT count(*) AS n FROM orders WHERE kind = 'sale' AND customer_id IS NOT NULL

-- name: current_run
SELECT run_id, as_of, finished_at FROM discovery_runs WHERE is_current

-- name: start_run
INSERT INTO discovery_runs (status, as_of, parameters)
VALUES ('running', %(as_of)s, %(parameters)s)
RETURNING run_id, started_at

-- name: finish_run_unpublished
-- A failed or rejected run: recorded with its reason, never made current.
UPDATE discovery_runs
SET status = %(status)s, finished_at = now(), error = %(error)s,
    counts = %(counts)s, stage_seconds = %(stage_seconds)s, metrics = %(metrics)s
WHERE run_id = %(run_id)s

-- name: insert_axis
INSERT INTO discovery_axes (run_id, axis, k, silhouette, is_weak, features, note)
VALUES (%(run_id)s, %(axis)s, %(k)s, %(silhouette)s, %(is_weak)s, %(features)s, %(note)s)

-- name: insert_segment
INSERT INTO segments (run_id, axis, name, interpretation, centroid, members)
VALUES (%(run_id)s, %(axis)s, %(name)s, %(interpretation)s, %(centroid)s, %(members)s)

-- name: insert_archetype
INSERT INTO archetypes (run_id, archetype_id, name, description, signature, members, share,
                        avg_clv, total_clv, avg_orders)
VALUES (%(run_id)s, %(archetype_id)s, %(name)s, %(description)s, %(signature)s, %(members)s,
        %(share)s, %(avg_clv)s, %(total_clv)s, %(avg_orders)s)

-- name: copy_profiles
COPY customer_profiles (run_id, customer_id, orders, revenue, first_order_at, last_order_at,
                        avg_order_value, recency_days, tenure_days, history, features, memberships,
                        dominant_segments, segment_strengths, archetype_id, probability_alive,
                        churn_probability, risk_level, churn_reasons, expected_purchases_30d,
                        expected_purchases_90d, predicted_clv_12m, value_tier)
FROM STDIN WITH (FORMAT csv)

-- name: lock_publishing
-- Serialises the flip between concurrent publishers (transaction-scoped).
SELECT pg_advisory_xact_lock(727003)

-- name: unset_current
UPDATE discovery_runs SET is_current = false WHERE is_current

-- name: publish_run
UPDATE discovery_runs
SET status = 'published', is_current = true, finished_at = now(),
    counts = %(counts)s, stage_seconds = %(stage_seconds)s, metrics = %(metrics)s
WHERE run_id = %(run_id)s

-- name: published_runs
SELECT run_id, as_of, is_current FROM discovery_runs WHERE status = 'published' ORDER BY as_of DESC, run_id DESC

-- name: delete_runs
-- Pruning: a run's segments, archetypes and profiles go with it (ON DELETE CASCADE).
DELETE FROM discovery_runs WHERE run_id = ANY(%(run_ids)s) AND NOT is_current

-- name: unpublished_runs
-- Failed, rejected and abandoned runs (a killed process leaves 'running' behind), newest first.
SELECT run_id, status, started_at FROM discovery_runs
WHERE status <> 'published'
ORDER BY started_at DESC, run_id DESC

-- name: export_profiles
-- One row per customer of the current run, for the store owner (real store ids on purpose).
SELECT c.store_customer_id,
       p.churn_probability,
       p.expected_purchases_90d,
       p.predicted_clv_12m,
       p.archetype_id,
       p.dominant_segments ->> 'frequency' AS segment_frequency,
       p.dominant_segments ->> 'value' AS segment_value,
       p.dominant_segments ->> 'exploration' AS segment_exploration,
       p.dominant_segments ->> 'price_sensitivity' AS segment_price_sensitivity,
       p.dominant_segments ->> 'cadence' AS segment_cadence,
       p.dominant_segments ->> 'maturity' AS segment_maturity,
       p.dominant_segments ->> 'repurchase' AS segment_repurchase,
       p.dominant_segments ->> 'returns' AS segment_returns,
       p.risk_level,
       p.value_tier,
       p.probability_alive,
       p.orders,
       p.revenue,
       p.recency_days,
       p.history
FROM customer_profiles p
JOIN customers c ON c.customer_id = p.customer_id
WHERE p.run_id = (SELECT run_id FROM discovery_runs WHERE is_current)
ORDER BY c.store_customer_id

-- name: recent_run_started
-- Another instance already started a run in this schedule slot.
SELECT EXISTS (SELECT 1 FROM discovery_runs WHERE started_at > now() - make_interval(secs => %(seconds)s)) AS taken

-- name: try_leader_lock
SELECT pg_try_advisory_lock(727002) AS acquired

-- name: release_leader_lock
SELECT pg_advisory_unlock(727002)
