-- analyze_customers: one page of customers from the current run plus totals over the whole
-- matching set (not just the page).

-- name: page
WITH matching AS (
    SELECT p.customer_id, c.public_id, p.value_tier, p.orders, p.revenue, p.avg_order_value,
           p.recency_days, p.churn_probability, p.risk_level, p.predicted_clv_12m,
           p.expected_purchases_90d, p.archetype_id
    FROM customer_profiles p
    JOIN customers c ON c.customer_id = p.customer_id
    WHERE p.run_id = %(run_id)s
      AND (%(axis)s::text IS NULL OR p.dominant_segments ->> %(axis)s::text = %(segment)s::text)
      AND (%(archetype_id)s::text IS NULL OR p.archetype_id = %(archetype_id)s::text)
      AND (%(value_tier)s::text IS NULL OR p.value_tier = %(value_tier)s::text)
      AND (%(risk_level)s::text IS NULL OR p.risk_level = %(risk_level)s::text)
      AND (%(min_value)s::numeric IS NULL OR p.revenue >= %(min_value)s::numeric)
), totals AS (
    SELECT count(*)                                                              AS customers,
           coalesce(sum(revenue), 0)                                             AS lifetime_value,
           count(*) FILTER (WHERE risk_level IN ('high', 'critical'))            AS customers_at_risk,
           coalesce(sum(revenue) FILTER (WHERE risk_level IN ('high', 'critical')), 0) AS value_at_risk,
           coalesce(sum(predicted_clv_12m), 0)                                   AS predicted_value_12m,
           coalesce(sum(churn_probability * predicted_clv_12m), 0)               AS expected_12m_loss,
           avg(churn_probability)                                                AS average_churn_probability
    FROM matching
), page AS (
    SELECT *, row_number() OVER (ORDER BY
        CASE WHEN %(sort_by)s = 'churn_risk' THEN churn_probability END DESC NULLS LAST,
        CASE WHEN %(sort_by)s = 'value' THEN revenue END DESC NULLS LAST,
        CASE WHEN %(sort_by)s = 'predicted_value' THEN predicted_clv_12m END DESC NULLS LAST,
        CASE WHEN %(sort_by)s = 'recency' THEN recency_days END DESC NULLS LAST,
        CASE WHEN %(sort_by)s = 'frequency' THEN orders END DESC NULLS LAST,
        revenue DESC, public_id) AS rn
    FROM matching
    ORDER BY rn
    LIMIT %(limit)s OFFSET %(offset)s
)
SELECT to_jsonb(t) AS totals,
       coalesce((SELECT jsonb_agg(to_jsonb(pg) || jsonb_build_object('archetype_name', a.name) ORDER BY pg.rn)
                 FROM page pg
                 LEFT JOIN archetypes a ON a.run_id = %(run_id)s AND a.archetype_id = pg.archetype_id),
                '[]'::jsonb) AS rows
FROM totals t;
