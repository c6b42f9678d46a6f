-- get_recommendations: group figures the next best actions are chosen from.

-- name: group_stats
-- One segment (%(axis)s/%(segment)s), one archetype (%(archetype_id)s) or the whole store (all NULL).
SELECT count(*)                                                       AS customers,
       coalesce(sum(revenue), 0)                                      AS lifetime_value,
       avg(revenue)                                                   AS average_value,
       avg(churn_probability)                                         AS average_churn,
       count(*) FILTER (WHERE risk_level IN ('high', 'critical'))     AS at_risk,
       count(*) FILTER (WHERE orders = 1)                             AS one_time
FROM customer_profiles
WHERE run_id = %(run_id)s
  AND (%(axis)s::text IS NULL OR dominant_segments ->> %(axis)s::text = %(segment)s::text)
  AND (%(archetype_id)s::text IS NULL OR archetype_id = %(archetype_id)s::text);

-- name: discount_tiers
-- How many members fall in each compensation tier (the highest threshold at or below their value).
SELECT tier, count(*) AS customers
FROM (
    SELECT (SELECT max(t) FROM unnest(%(thresholds)s::numeric[]) t WHERE t <= p.revenue) AS tier
    FROM customer_profiles p
    WHERE p.run_id = %(run_id)s
      AND (%(axis)s::text IS NULL OR p.dominant_segments ->> %(axis)s::text = %(segment)s::text)
      AND (%(archetype_id)s::text IS NULL OR p.archetype_id = %(archetype_id)s::text)
) tiers
GROUP BY tier
ORDER BY tier DESC NULLS LAST;

-- name: customer_bought
SELECT DISTINCT pr.sku
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
JOIN products pr ON pr.product_id = l.product_id
WHERE o.customer_id = %(customer_id)s AND o.kind = 'sale';
