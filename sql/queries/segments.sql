-- analyze_segments and segment_info: segment sizes, value and churn from the run's profiles.

-- name: overview
-- Profiles are grouped once by every (axis, dominant segment) pair, then joined to the segment list.
WITH dominant AS (
    SELECT d.key AS axis, d.value AS name, count(*) AS members,
           sum(p.revenue) AS lifetime_value, avg(p.revenue) AS average_value,
           avg(p.churn_probability) AS average_churn,
           count(*) FILTER (WHERE p.risk_level IN ('high', 'critical')) AS customers_at_risk
    FROM customer_profiles p, jsonb_each_text(p.dominant_segments) d
    WHERE p.run_id = %(run_id)s
    GROUP BY 1, 2
)
SELECT s.axis, s.name, s.interpretation, x.k, x.silhouette, x.is_weak, x.note,
       coalesce(d.members, 0) AS members, coalesce(d.lifetime_value, 0) AS lifetime_value,
       d.average_value, d.average_churn, coalesce(d.customers_at_risk, 0) AS customers_at_risk
FROM segments s
LEFT JOIN discovery_axes x ON x.run_id = s.run_id AND x.axis = s.axis
LEFT JOIN dominant d ON d.axis = s.axis AND d.name = s.name
WHERE s.run_id = %(run_id)s
  AND (%(axis)s::text IS NULL OR s.axis = %(axis)s::text)
ORDER BY s.axis, members DESC, s.name;

-- name: run_customers
SELECT count(*) AS customers FROM customer_profiles WHERE run_id = %(run_id)s;

-- name: detail
WITH members AS (
    -- Only columns of customer_profiles_summary_idx: an index-only scan.
    SELECT p.revenue::float8 AS revenue, p.orders, p.avg_order_value::float8 AS avg_order_value,
           p.churn_probability, p.recency_days, p.predicted_clv_12m::float8 AS predicted_clv_12m,
           p.segment_strengths ->> %(axis)s::text AS strength, p.risk_level, p.value_tier
    FROM run_members(%(run_id)s, %(axis)s, %(name)s, NULL) p
), figures AS (
    SELECT count(*)                                                             AS members,
           coalesce(sum(revenue), 0)                                            AS lifetime_value,
           avg(revenue)                                                         AS average_value,
           avg(orders)                                                          AS average_orders,
           avg(avg_order_value)                                                 AS average_order_value,
           avg(churn_probability)                                               AS average_churn,
           avg(recency_days)                                                    AS average_days_since_last_order,
           coalesce(sum(predicted_clv_12m), 0)                                  AS predicted_value_12m,
           avg((strength = 'strong')::int)                                      AS strong_share,
           count(*) FILTER (WHERE risk_level IN ('high', 'critical'))           AS customers_at_risk,
           coalesce(sum(revenue) FILTER (WHERE risk_level IN ('high', 'critical')), 0) AS value_at_risk,
           jsonb_build_object(
               'low', count(*) FILTER (WHERE risk_level = 'low'),
               'medium', count(*) FILTER (WHERE risk_level = 'medium'),
               'high', count(*) FILTER (WHERE risk_level = 'high'),
               'critical', count(*) FILTER (WHERE risk_level = 'critical'))     AS risk_levels,
           jsonb_build_object(
               'whale', count(*) FILTER (WHERE value_tier = 'whale'),
               'vip', count(*) FILTER (WHERE value_tier = 'vip'),
               'high', count(*) FILTER (WHERE value_tier = 'high'),
               'regular', count(*) FILTER (WHERE value_tier = 'regular'),
               'new', count(*) FILTER (WHERE value_tier = 'new'))               AS value_tiers
    FROM members
)
SELECT s.interpretation, s.centroid, f.*
FROM segments s
CROSS JOIN figures f
WHERE s.run_id = %(run_id)s AND s.axis = %(axis)s::text AND s.name = %(name)s::text;

-- name: detail_archetypes
SELECT p.archetype_id, a.name, count(*) AS members
FROM run_members(%(run_id)s, %(axis)s, %(name)s, NULL) p
LEFT JOIN archetypes a ON a.run_id = p.run_id AND a.archetype_id = p.archetype_id
WHERE p.archetype_id IS NOT NULL
GROUP BY p.archetype_id, a.name
ORDER BY members DESC, p.archetype_id
LIMIT 5;

-- name: changes
-- Segment sizes now and in an earlier run; segments that appeared or vanished show 0 on one side.
SELECT coalesce(n.axis, o.axis) AS axis, coalesce(n.name, o.name) AS name,
       coalesce(n.members, 0) AS members_now, coalesce(o.members, 0) AS members_before
FROM (SELECT axis, name, members FROM segments WHERE run_id = %(run_id)s) n
FULL JOIN (SELECT axis, name, members FROM segments WHERE run_id = %(old_run_id)s) o
       ON o.axis = n.axis AND o.name = n.name
WHERE %(axis)s::text IS NULL OR coalesce(n.axis, o.axis) = %(axis)s::text
ORDER BY 1, abs(coalesce(n.members, 0) - coalesce(o.members, 0)) DESC, 2;

-- name: archetype_cards
-- The given archetype, or the largest ones, with churn and value figures from their members.
-- Values are the members' lifetime revenue, as on segment cards: archetypes.avg_clv/total_clv
-- hold discovery's predicted 12-month CLV, which is predicted_value_12m here.
SELECT a.archetype_id, a.name, a.description, a.signature, a.members, a.share,
       st.average_value, st.total_value, a.avg_orders, st.average_churn, st.customers_at_risk,
       st.predicted_value_12m, st.average_order_value
FROM archetypes a
LEFT JOIN LATERAL (
    SELECT avg(p.revenue)                                                AS average_value,
           sum(p.revenue)                                                AS total_value,
           avg(p.churn_probability)                                      AS average_churn,
           count(*) FILTER (WHERE p.risk_level IN ('high', 'critical'))  AS customers_at_risk,
           sum(p.predicted_clv_12m)                                      AS predicted_value_12m,
           avg(p.avg_order_value)                                        AS average_order_value
    FROM customer_profiles p
    WHERE p.run_id = a.run_id AND p.archetype_id = a.archetype_id
) st ON true
WHERE a.run_id = %(run_id)s
  AND (%(archetype_id)s::text IS NULL OR a.archetype_id = %(archetype_id)s::text)
ORDER BY a.members DESC, a.archetype_id
LIMIT %(limit)s;

-- name: typical_products
-- The products most members of each group bought (sales up to the run's as_of). A group is an
-- archetype (archetype_ids) or one segment (axis/segment). Large groups are read through a fixed
-- pseudo-random sample of about sample_size members per group (a multiplicative hash of the id
-- below a threshold: the same members every time, no sorting), so a card costs about the same for
-- 300 or 30,000 members; buyer shares are sample estimates. Products bought by fewer than
-- min_buyers sampled members are left out, as they would point at individuals.
WITH groups AS (
    SELECT archetype_id AS grp, least(1.0, %(sample_size)s::float8 / greatest(members, 1)) AS fraction
    FROM archetypes
    WHERE run_id = %(run_id)s AND %(axis)s::text IS NULL AND archetype_id = ANY(%(archetype_ids)s::text[])
    UNION ALL
    SELECT axis || ':' || name, least(1.0, %(sample_size)s::float8 / greatest(members, 1))
    FROM segments
    WHERE run_id = %(run_id)s AND axis = %(axis)s::text AND name = %(segment)s::text
), members AS (
    SELECT p.customer_id, g.grp, count(*) OVER (PARTITION BY g.grp) AS sampled
    FROM customer_profiles p
    JOIN groups g ON g.grp = CASE WHEN %(axis)s::text IS NULL THEN p.archetype_id
                                  ELSE %(axis)s::text || ':' || (p.dominant_segments ->> %(axis)s::text) END
    WHERE p.run_id = %(run_id)s
      AND mod(p.customer_id * 2654435761, 4294967291) < g.fraction * 4294967291
), bought AS (
    -- Per member through the indexes (orders by customer, lines by order); OFFSET 0 keeps the
    -- planner from flattening this into hash joins over every order line in the store.
    SELECT m.grp, x.product_id, count(DISTINCT m.customer_id) AS buyers, sum(x.amount) AS revenue
    FROM members m
    CROSS JOIN LATERAL (
        SELECT l.product_id, l.quantity * l.unit_price - l.discount AS amount
        FROM orders o
        JOIN order_lines l ON l.order_id = o.order_id AND l.kind = 'sale'
        WHERE o.customer_id = m.customer_id AND o.kind = 'sale' AND o.ordered_at <= %(as_of)s
        OFFSET 0
    ) x
    GROUP BY m.grp, x.product_id
), ranked AS (
    SELECT b.*, row_number() OVER (PARTITION BY b.grp ORDER BY b.buyers DESC, b.revenue DESC, b.product_id) AS rn
    FROM bought b
    WHERE b.buyers >= %(min_buyers)s
)
SELECT r.grp, pr.sku, pr.title, pr.category, r.buyers, r.revenue,
       (SELECT max(m.sampled) FROM members m WHERE m.grp = r.grp) AS sampled
FROM ranked r
JOIN products pr ON pr.product_id = r.product_id
WHERE r.rn <= %(per_group)s
ORDER BY r.grp, r.rn;
