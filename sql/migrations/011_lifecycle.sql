-- Where each customer stands (discovery/lifecycle.py): new, active, at_risk or lapsed. Runs made
-- before this migration have no stage (NULL). The summary index carries it, so customer lists
-- filtered by stage stay index-only scans.
ALTER TABLE customer_profiles
    ADD COLUMN lifecycle text CHECK (lifecycle IN ('new', 'active', 'at_risk', 'lapsed'));

DROP INDEX customer_profiles_summary_idx;
CREATE INDEX customer_profiles_summary_idx ON customer_profiles (run_id)
    INCLUDE (customer_id, orders, revenue, avg_order_value, recency_days, churn_probability, risk_level,
             predicted_clv_12m, expected_purchases_90d, value_tier, archetype_id, dominant_segments,
             segment_strengths, lifecycle, tenure_days);

-- The customers an analyze_customers call matches, with the figures its rankings need: written
-- once for the page and its CSV export. Inlined by the planner (SQL-language, STABLE, one SELECT).
-- p_risk_levels: the levels to keep (the tool passes the one named and those above it).
-- p_product_ids: only customers who bought one of these in sale orders in [p_start, p_end) (open
-- ends: NULL), with what they spent on them, the units and the orders.
CREATE FUNCTION matching_customers(p_run_id bigint, p_axis text, p_segment text, p_archetype_id text,
                                   p_value_tier text, p_risk_levels text[], p_min_value numeric,
                                   p_lifecycle text, p_product_ids bigint[], p_start timestamptz,
                                   p_end timestamptz, p_sort_by text)
RETURNS TABLE (customer_id bigint, value_tier text, orders integer, revenue float8, avg_order_value float8,
               recency_days integer, churn_probability float8, risk_level text, predicted_clv_12m float8,
               expected_purchases_90d float8, archetype_id text, lifecycle text, annual_spend float8,
               value_at_stake float8, bought_spend float8, bought_units bigint, bought_orders bigint,
               sort_key float8)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT m.*,
           CASE p_sort_by
               WHEN 'churn_risk' THEN m.churn_probability
               WHEN 'value' THEN m.revenue
               WHEN 'predicted_value' THEN m.predicted_clv_12m
               WHEN 'recency' THEN m.recency_days::float8
               WHEN 'frequency' THEN m.orders::float8
               WHEN 'value_at_stake' THEN m.value_at_stake
               WHEN 'bought' THEN m.bought_spend
           END AS sort_key
    FROM (
        SELECT p.customer_id, p.value_tier, p.orders, p.revenue::float8 AS revenue,
               p.avg_order_value::float8 AS avg_order_value, p.recency_days, p.churn_probability::float8,
               p.risk_level, p.predicted_clv_12m::float8 AS predicted_clv_12m,
               p.expected_purchases_90d::float8, p.archetype_id, p.lifecycle, s.annual_spend,
               p.churn_probability * s.annual_spend AS value_at_stake,
               b.spend AS bought_spend, b.units AS bought_units, b.orders AS bought_orders
        FROM run_members(p_run_id, p_axis, p_segment, p_archetype_id) p
        -- Recent annual spend: lifetime revenue per year of tenure (a customer younger than a year
        -- counts as one year, so a first month is not blown up twelvefold), never less than one
        -- average order. Unlike predicted_clv_12m it is not already discounted for churn.
        CROSS JOIN LATERAL (SELECT greatest(p.revenue::float8 * 365.0 / greatest(coalesce(p.tenure_days, 0), 365),
                                            coalesce(p.avg_order_value::float8, 0)) AS annual_spend) s
        LEFT JOIN (
            SELECT o.customer_id, sum(l.quantity * l.unit_price - l.discount)::float8 AS spend,
                   sum(l.quantity) AS units, count(DISTINCT o.order_id) AS orders
            FROM order_lines l
            JOIN orders o ON o.order_id = l.order_id
            WHERE p_product_ids IS NOT NULL AND l.product_id = ANY (p_product_ids)
              AND o.kind = 'sale' AND o.customer_id IS NOT NULL
              AND (p_start IS NULL OR o.ordered_at >= p_start) AND (p_end IS NULL OR o.ordered_at < p_end)
            GROUP BY o.customer_id
        ) b ON b.customer_id = p.customer_id
        WHERE (p_value_tier IS NULL OR p.value_tier = p_value_tier)
          AND (p_risk_levels IS NULL OR p.risk_level = ANY (p_risk_levels))
          AND (p_min_value IS NULL OR p.revenue >= p_min_value)
          AND (p_lifecycle IS NULL OR p.lifecycle = p_lifecycle)
          AND (p_product_ids IS NULL OR b.customer_id IS NOT NULL)
    ) m
$$;
