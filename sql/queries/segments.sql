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
    SELECT p.*
    FROM customer_profiles p
    WHERE p.run_id = %(run_id)s AND p.dominant_segments ->> %(axis)s::text = %(name)s::text
)
SELECT s.interpretation, s.centroid,
       count(m.customer_id)                                                    AS members,
       coalesce(sum(m.revenue), 0)                                             AS lifetime_value,
       avg(m.revenue)                                                          AS average_value,
       avg(m.orders)                                                           AS average_orders,
       avg(m.avg_order_value)                                                  AS average_order_value,
       avg(m.churn_probability)                                                AS average_churn,
       avg(m.recency_days)                                                     AS average_days_since_last_order,
       coalesce(sum(m.predicted_clv_12m), 0)                                   AS predicted_value_12m,
       avg((m.segment_strengths ->> %(axis)s::text = 'strong')::int)           AS strong_share,
       avg((m.memberships -> %(axis)s::text ->> %(name)s::text)::float)        AS average_membership,
       count(*) FILTER (WHERE m.risk_level IN ('high', 'critical'))            AS customers_at_risk,
       coalesce(sum(m.revenue) FILTER (WHERE m.risk_level IN ('high', 'critical')), 0) AS value_at_risk,
       jsonb_build_object(
           'low', count(*) FILTER (WHERE m.risk_level = 'low'),
           'medium', count(*) FILTER (WHERE m.risk_level = 'medium'),
           'high', count(*) FILTER (WHERE m.risk_level = 'high'),
           'critical', count(*) FILTER (WHERE m.risk_level = 'critical'))      AS risk_levels,
       jsonb_build_object(
           'whale', count(*) FILTER (WHERE m.value_tier = 'whale'),
           'vip', count(*) FILTER (WHERE m.value_tier = 'vip'),
           'high', count(*) FILTER (WHERE m.value_tier = 'high'),
           'regular', count(*) FILTER (WHERE m.value_tier = 'regular'),
           'new', count(*) FILTER (WHERE m.value_tier = 'new'))                AS value_tiers
FROM segments s
LEFT JOIN members m ON true
WHERE s.run_id = %(run_id)s AND s.axis = %(axis)s::text AND s.name = %(name)s::text
GROUP BY s.interpretation, s.centroid;

-- name: detail_archetypes
SELECT p.archetype_id, a.name, count(*) AS members
FROM customer_profiles p
LEFT JOIN archetypes a ON a.run_id = p.run_id AND a.archetype_id = p.archetype_id
WHERE p.run_id = %(run_id)s AND p.dominant_segments ->> %(axis)s::text = %(name)s::text
  AND p.archetype_id IS NOT NULL
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
