-- get_recommendations: group figures the next best actions are chosen from.

-- name: group_stats
-- One segment (axis/segment), one archetype (archetype_id) or the whole store (all NULL), with how
-- many members fall in each compensation tier: width_bucket over the ascending tier thresholds gives
-- the position of the highest threshold at or below the member's lifetime value (0: below all).
WITH members AS (
    SELECT revenue::float8 AS revenue, churn_probability, risk_level, orders
    FROM run_members(%(run_id)s, %(axis)s, %(segment)s, %(archetype_id)s)
), tiers AS (
    SELECT width_bucket(revenue, %(thresholds)s::float8[]) AS bucket, count(*) AS customers
    FROM members
    GROUP BY 1
)
SELECT count(*)                                                       AS customers,
       coalesce(sum(revenue), 0)                                      AS lifetime_value,
       avg(revenue)                                                   AS average_value,
       avg(churn_probability)                                         AS average_churn,
       count(*) FILTER (WHERE risk_level IN ('high', 'critical'))     AS at_risk,
       count(*) FILTER (WHERE orders = 1)                             AS one_time,
       (SELECT coalesce(jsonb_object_agg(bucket, customers), '{}') FROM tiers) AS tier_buckets
FROM members;

-- name: customer_bought
SELECT DISTINCT pr.sku
FROM orders o
JOIN order_lines l ON l.order_id = o.order_id
JOIN products pr ON pr.product_id = l.product_id
WHERE o.customer_id = %(customer_id)s AND o.kind = 'sale';
