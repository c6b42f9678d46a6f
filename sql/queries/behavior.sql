-- analyze_behavior: change between the current run and an earlier one, one-time buyers and
-- discount dependency. %(axis)s/%(segment)s optionally restrict to one segment.

-- name: compared
SELECT count(*) AS customers
FROM customer_profiles cur
JOIN customer_profiles old ON old.customer_id = cur.customer_id AND old.run_id = %(old_run_id)s
WHERE cur.run_id = %(run_id)s;

-- name: moves
-- Who changed dominant segment on which axis, read once: the (axis, from, to) counts and the most
-- valuable movers. A segment filter keeps moves into or out of that segment.
WITH pairs AS MATERIALIZED (
    SELECT cur.customer_id, d.key AS axis, old.dominant_segments ->> d.key AS from_segment,
           d.value AS to_segment, cur.revenue::float8 AS lifetime_value
    FROM customer_profiles cur
    JOIN customer_profiles old ON old.customer_id = cur.customer_id AND old.run_id = %(old_run_id)s
    CROSS JOIN LATERAL jsonb_each_text(cur.dominant_segments) d
    WHERE cur.run_id = %(run_id)s
      AND old.dominant_segments ? d.key
      AND old.dominant_segments ->> d.key <> d.value
      AND (%(axis)s::text IS NULL OR (d.key = %(axis)s::text
           AND (d.value = %(segment)s::text OR old.dominant_segments ->> d.key = %(segment)s::text)))
), summary AS (
    SELECT axis, from_segment, to_segment, count(*) AS customers, sum(lifetime_value) AS lifetime_value
    FROM pairs
    GROUP BY 1, 2, 3
), movers AS (
    SELECT c.public_id, p.axis, p.from_segment, p.to_segment, p.lifetime_value
    FROM (SELECT * FROM pairs ORDER BY lifetime_value DESC, customer_id, axis LIMIT %(limit)s) p
    JOIN customers c ON c.customer_id = p.customer_id
)
SELECT coalesce((SELECT jsonb_agg(to_jsonb(s) ORDER BY s.customers DESC, s.lifetime_value DESC, s.axis,
                                  s.from_segment, s.to_segment) FROM summary s), '[]') AS moves,
       coalesce((SELECT jsonb_agg(to_jsonb(m) ORDER BY m.lifetime_value DESC, m.public_id, m.axis)
                 FROM movers m), '[]') AS movers;

-- name: declining
-- Churn up by 10 points or more, a worse risk level, or expected purchases down by 30 %% or more.
WITH pairs AS (
    SELECT c.public_id, cur.value_tier, cur.revenue, cur.recency_days,
           old.churn_probability AS churn_before, cur.churn_probability AS churn_now,
           old.risk_level AS risk_before, cur.risk_level AS risk_now,
           old.expected_purchases_90d AS expected_before, cur.expected_purchases_90d AS expected_now
    FROM run_members(%(run_id)s, %(axis)s, %(segment)s, NULL) cur
    JOIN customer_profiles old ON old.customer_id = cur.customer_id AND old.run_id = %(old_run_id)s
    JOIN customers c ON c.customer_id = cur.customer_id
), flagged AS (
    SELECT *
    FROM pairs
    WHERE churn_now - churn_before >= 0.10
       OR array_position(ARRAY['low', 'medium', 'high', 'critical'], risk_now)
          > array_position(ARRAY['low', 'medium', 'high', 'critical'], risk_before)
       OR (expected_before > 0 AND expected_now <= 0.7 * expected_before)
)
SELECT *, count(*) OVER () AS total, sum(revenue) OVER () AS total_value
FROM flagged
ORDER BY (churn_now - churn_before) * revenue DESC NULLS LAST, revenue DESC, public_id
LIMIT %(limit)s;

-- name: one_time_stats
SELECT count(*)                                                             AS customers,
       count(*) FILTER (WHERE orders = 1)                                   AS one_time,
       coalesce(sum(revenue) FILTER (WHERE orders = 1), 0)                  AS one_time_value,
       count(*) FILTER (WHERE orders = 1 AND recency_days <= 30)            AS within_30_days,
       count(*) FILTER (WHERE orders = 1 AND recency_days BETWEEN 31 AND 90)  AS within_31_90_days,
       count(*) FILTER (WHERE orders = 1 AND recency_days BETWEEN 91 AND 180) AS within_91_180_days,
       count(*) FILTER (WHERE orders = 1 AND recency_days > 180)            AS over_180_days
FROM run_members(%(run_id)s, %(axis)s, %(segment)s, NULL);

-- name: one_time_converted
SELECT count(*) FILTER (WHERE old.orders = 1)                    AS was_one_time,
       count(*) FILTER (WHERE old.orders = 1 AND cur.orders >= 2) AS converted
FROM customer_profiles cur
JOIN customer_profiles old ON old.customer_id = cur.customer_id AND old.run_id = %(old_run_id)s
WHERE cur.run_id = %(run_id)s;

-- name: one_time_buyers
-- The most recent single-order customers first: the ones a second-order nudge can still reach.
SELECT c.public_id, p.revenue AS order_value, p.recency_days, p.churn_probability
FROM run_members(%(run_id)s, %(axis)s, %(segment)s, NULL) p
JOIN customers c ON c.customer_id = p.customer_id
WHERE p.orders = 1
ORDER BY p.recency_days, p.revenue DESC, c.public_id
LIMIT %(limit)s;

-- name: discount_usage
-- Per customer share of orders with a discount, now and as of the earlier run; dependent = 2+
-- orders and at least `share` of them discounted. Order counts come from the runs' profiles (sale
-- orders up to each run's as_of, as discovery counts them), so only discounted orders are read.
WITH members AS (
    SELECT p.customer_id, p.revenue::float8 AS revenue, p.orders
    FROM run_members(%(run_id)s, %(axis)s, %(segment)s, NULL) p
), earlier AS (
    SELECT customer_id, orders FROM customer_profiles WHERE run_id = %(old_run_id)s
), discounted AS (
    SELECT o.customer_id,
           count(*)                                                             AS discounted,
           sum(o.discount_total::float8)                                        AS discount_given,
           count(*) FILTER (WHERE o.ordered_at <= %(old_as_of)s::timestamptz)   AS discounted_before
    FROM orders o
    WHERE o.kind = 'sale' AND o.discount_total > 0 AND o.ordered_at <= %(as_of)s::timestamptz
      AND o.customer_id IS NOT NULL
    GROUP BY o.customer_id
), flagged AS (
    SELECT m.customer_id, m.revenue, m.orders,
           coalesce(d.discounted, 0)                                             AS discounted,
           coalesce(d.discount_given, 0)                                         AS discount_given,
           m.orders >= 2 AND coalesce(d.discounted, 0) >= %(share)s * m.orders  AS dependent,
           coalesce(e.orders, 0) >= 2
               AND coalesce(d.discounted_before, 0) >= %(share)s * e.orders     AS dependent_before
    FROM members m
    LEFT JOIN discounted d ON d.customer_id = m.customer_id
    LEFT JOIN earlier e ON e.customer_id = m.customer_id
)
SELECT count(*)                                                             AS customers,
       count(*) FILTER (WHERE dependent)                                    AS dependent,
       count(*) FILTER (WHERE dependent_before)                             AS dependent_before,
       coalesce(sum(revenue) FILTER (WHERE dependent), 0)                   AS dependent_value,
       coalesce(sum(discount_given) FILTER (WHERE dependent), 0)            AS dependent_discount_given,
       coalesce(sum(discounted), 0)                                          AS discounted_orders,
       coalesce(sum(orders), 0)                                              AS orders,
       coalesce((SELECT jsonb_agg(jsonb_build_object('public_id', c.public_id, 'orders', x.orders,
                                                     'discounted', x.discounted, 'discount_given', x.discount_given,
                                                     'revenue', x.revenue) ORDER BY x.revenue DESC, c.public_id)
                 FROM (SELECT * FROM flagged WHERE dependent ORDER BY revenue DESC, customer_id LIMIT %(limit)s) x
                 JOIN customers c ON c.customer_id = x.customer_id), '[]') AS top
FROM flagged;

-- name: recent_change
-- Each customer's last %(window_days)s days against their own history before that window, from a
-- single run (no earlier run needed). Customers with at least 3 sale orders before the window are
-- judged; a signal fires when the window departs clearly from their own habit:
--   pace_slowing     no sale order in the window though their pace promised at least one
--   basket_shrinking recent orders worth under 60%% of their usual order
--   category_switch  recent orders hold none of their two usual categories
--   discount_dependence  recent orders mostly discounted (60%%+) where they used to pay full price (<30%%)
--   return_spike     30%%+ of the window's spend returned where they used to return under 10%%
WITH bounds AS (
    SELECT %(as_of)s::timestamptz AS as_of,
           %(as_of)s::timestamptz - make_interval(days => %(window_days)s) AS window_start
), members AS (
    SELECT customer_id, revenue::float8 AS revenue, value_tier
    FROM run_members(%(run_id)s, %(axis)s, %(segment)s, NULL)
), scoped AS MATERIALIZED (
    SELECT o.customer_id, o.order_id, o.kind, o.total::float8 AS total, o.discount_total > 0 AS discounted,
           o.ordered_at, o.ordered_at >= b.window_start AS recent, b.window_start
    FROM orders o
    JOIN members m ON m.customer_id = o.customer_id
    CROSS JOIN bounds b
    WHERE o.ordered_at <= b.as_of AND o.kind IN ('sale', 'return')
), per AS (
    SELECT customer_id,
           count(*) FILTER (WHERE kind = 'sale' AND NOT recent)                     AS orders_before,
           count(*) FILTER (WHERE kind = 'sale' AND recent)                         AS orders_recent,
           min(ordered_at) FILTER (WHERE kind = 'sale')                             AS first_at,
           min(window_start)                                                        AS window_start,
           avg(total) FILTER (WHERE kind = 'sale' AND NOT recent)                   AS aov_before,
           avg(total) FILTER (WHERE kind = 'sale' AND recent)                       AS aov_recent,
           avg(discounted::int) FILTER (WHERE kind = 'sale' AND NOT recent)         AS discount_share_before,
           avg(discounted::int) FILTER (WHERE kind = 'sale' AND recent)             AS discount_share_recent,
           coalesce(sum(total) FILTER (WHERE kind = 'sale' AND NOT recent), 0)      AS gross_before,
           coalesce(-sum(total) FILTER (WHERE kind = 'return' AND NOT recent), 0)   AS returns_before,
           coalesce(sum(total) FILTER (WHERE kind = 'sale' AND recent), 0)          AS gross_recent,
           coalesce(-sum(total) FILTER (WHERE kind = 'return' AND recent), 0)       AS returns_recent
    FROM scoped
    GROUP BY customer_id
), judged AS (
    SELECT p.*,
           -- their own pace before the window, applied to its length
           p.orders_before / greatest(extract(epoch FROM p.window_start - p.first_at) / 86400.0, 30.0)
               * %(window_days)s AS expected_in_window
    FROM per p
    WHERE p.orders_before >= 3
), category_spend AS (
    SELECT s.customer_id, s.recent, coalesce(pr.category, 'uncategorized') AS category,
           sum(l.quantity * l.unit_price - l.discount) AS spend
    FROM scoped s
    JOIN order_lines l ON l.order_id = s.order_id
    LEFT JOIN products pr ON pr.product_id = l.product_id
    WHERE s.kind = 'sale' AND s.customer_id IN (SELECT customer_id FROM judged WHERE orders_recent > 0)
    GROUP BY 1, 2, 3
), usual AS (
    SELECT customer_id, (array_agg(category ORDER BY spend DESC, category))[1:2] AS categories
    FROM category_spend WHERE NOT recent GROUP BY customer_id
), lately AS (
    SELECT customer_id, array_agg(category ORDER BY spend DESC, category) AS categories
    FROM category_spend WHERE recent GROUP BY customer_id
), signalled AS (
    SELECT j.*, u.categories AS usual_categories, la.categories AS recent_categories,
           array_remove(ARRAY[
               CASE WHEN j.orders_recent = 0 AND j.expected_in_window >= 1.0 THEN 'pace_slowing' END,
               CASE WHEN j.orders_recent > 0 AND j.aov_recent < 0.6 * j.aov_before THEN 'basket_shrinking' END,
               CASE WHEN j.orders_recent > 0 AND u.categories IS NOT NULL AND NOT (la.categories && u.categories)
                    THEN 'category_switch' END,
               CASE WHEN j.orders_recent >= 2 AND j.discount_share_recent >= 0.6 AND j.discount_share_before < 0.3
                    THEN 'discount_dependence' END,
               CASE WHEN j.gross_recent > 0 AND j.returns_recent >= 0.3 * j.gross_recent
                         AND j.returns_before < 0.1 * greatest(j.gross_before, 0.01) THEN 'return_spike' END
           ], NULL) AS signals
    FROM judged j
    LEFT JOIN usual u ON u.customer_id = j.customer_id
    LEFT JOIN lately la ON la.customer_id = j.customer_id
), changed AS (
    SELECT s.*, m.revenue, m.value_tier FROM signalled s JOIN members m USING (customer_id)
    WHERE cardinality(s.signals) > 0
)
SELECT (SELECT count(*) FROM judged)                                                          AS judged,
       (SELECT count(*) FROM changed)                                                         AS changed,
       (SELECT coalesce(sum(revenue), 0) FROM changed)                                        AS changed_value,
       (SELECT coalesce(jsonb_object_agg(signal, n), '{}')
          FROM (SELECT unnest(signals) AS signal, count(*) AS n FROM changed GROUP BY 1) c)  AS by_signal,
       coalesce((SELECT jsonb_agg(to_jsonb(t) ORDER BY t.revenue DESC, t.public_id)
                 FROM (SELECT cu.public_id, ch.value_tier, ch.revenue, ch.signals, ch.orders_before,
                              ch.orders_recent, round(ch.expected_in_window::numeric, 2)::float8 AS expected_in_window,
                              round(ch.aov_before::numeric, 2)::float8 AS aov_before,
                              round(ch.aov_recent::numeric, 2)::float8 AS aov_recent,
                              ch.usual_categories, ch.recent_categories
                       FROM changed ch JOIN customers cu USING (customer_id)
                       ORDER BY ch.revenue DESC, cu.public_id
                       LIMIT %(limit)s) t), '[]'::jsonb)                                        AS rows;
