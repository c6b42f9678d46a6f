-- Discovery: what a run reads from the store tables and how it publishes. Read with
-- sql.query("discovery.NAME"). Every read is bounded by the run's as-of date.

-- name: order_facts
-- One row per sale or return order of a known customer up to as_of. Times as epoch seconds (UTC):
-- plain numbers travel and parse far faster than timestamps.
SELECT o.customer_id,
       extract(epoch FROM o.ordered_at)::float8 AS ordered_epoch,
       (o.kind = 'return') AS is_return,
       o.subtotal::float8 AS subtotal,
       o.discount_total::float8 AS discount_total,
       o.total::float8 AS total,
       (coalesce(o.discount_code, '') <> '' OR o.discount_total > 0) AS discounted
FROM orders o
WHERE o.customer_id IS NOT NULL
  AND o.kind IN ('sale', 'return')
  AND o.ordered_at <= %(as_of)s

-- name: basket_stats
-- Per customer, from purchased lines up to as_of, in one pass over the lines: items, distinct
-- products, re-buying (lines of a product bought before; products bought more than once), and
-- breadth (categories, top-category share of lines, category entropy in nats).
WITH per_product AS MATERIALIZED (
    SELECT o.customer_id, l.product_id, count(*) AS times, sum(l.quantity) AS items
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    WHERE o.customer_id IS NOT NULL AND o.kind = 'sale' AND l.quantity > 0
      AND o.ordered_at <= %(as_of)s
    GROUP BY o.customer_id, l.product_id
), per_customer AS (
    SELECT customer_id,
           sum(items)::float8 AS items,
           count(*)::float8 AS products,
           sum(times)::float8 AS lines,
           sum(times - 1)::float8 AS repeat_lines,
           (count(*) FILTER (WHERE times > 1))::float8 AS repeat_products
    FROM per_product
    GROUP BY customer_id
), per_category AS (
    SELECT pp.customer_id, coalesce(p.category, '') AS category, sum(pp.times)::float8 AS lines
    FROM per_product pp
    LEFT JOIN products p ON p.product_id = pp.product_id
    GROUP BY pp.customer_id, coalesce(p.category, '')
), breadth AS (
    SELECT pc.customer_id,
           count(*)::float8 AS categories,
           max(pc.lines) / max(c.lines) AS top_category_share,
           -sum((pc.lines / c.lines) * ln(pc.lines / c.lines)) AS category_entropy
    FROM per_category pc
    JOIN per_customer c ON c.customer_id = pc.customer_id
    GROUP BY pc.customer_id
)
SELECT c.*, b.categories, b.top_category_share, b.category_entropy
FROM per_customer c
JOIN breadth b ON b.customer_id = c.customer_id

-- name: latest_order_at
-- Never after now: a mis-dated order in the future must not become the run's "today".
SELECT max(ordered_at) AS latest FROM orders
WHERE kind = 'sale' AND customer_id IS NOT NULL AND ordered_at <= now()

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
                        expected_purchases_90d, predicted_clv_12m, value_tier, lifecycle)
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

-- name: delete_runs
-- Pruning: a run's segments, archetypes and profiles go with it (ON DELETE CASCADE).
DELETE FROM discovery_runs WHERE run_id = ANY(%(run_ids)s) AND NOT is_current

-- name: unpublished_runs
-- Failed and rejected run records, newest first (running ones are never pruned).
SELECT run_id, status, started_at FROM discovery_runs
WHERE status IN ('failed', 'rejected')
ORDER BY started_at DESC, run_id DESC

-- name: mark_stale_running
-- Run only while holding the discovery lock: a run's process holds that lock until it ends, so
-- any other 'running' record belongs to a process that died (killed, crashed, lost its session).
UPDATE discovery_runs
SET status = 'failed', finished_at = now(), error = 'process ended before publishing'
WHERE status = 'running'
RETURNING run_id

-- name: running_run
-- The run in progress (for the message when another process holds the discovery lock).
SELECT run_id, started_at FROM discovery_runs
WHERE status = 'running'
ORDER BY started_at DESC, run_id DESC
LIMIT 1

-- name: published_run_ages
SELECT run_id, started_at, is_current FROM discovery_runs WHERE status = 'published'

-- name: record_stage_seconds
UPDATE discovery_runs SET stage_seconds = %(stage_seconds)s WHERE run_id = %(run_id)s

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
       p.lifecycle,
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

-- name: try_discovery_lock
-- One discovery run at a time across processes and app instances (CLI, demo, scheduler): a session
-- lock held on a dedicated connection for the whole run, so it ends with the process. Its own key:
-- 727002 is the importer's transaction lock, and sharing it made imports wait on discovery runs.
SELECT pg_try_advisory_lock(727006) AS acquired

-- name: release_discovery_lock
SELECT pg_advisory_unlock(727006)
