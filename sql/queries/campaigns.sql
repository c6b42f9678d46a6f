-- target_campaign: who to contact for each campaign type, from the current run's profiles.

-- name: select
-- For each campaign in %(campaigns)s: its best %(limit)s customers, each row carrying the totals over
-- everyone eligible (one scan serves several campaigns: get_recommendations asks for four at once).
-- Eligibility and ranking per campaign (the reasoning is spelled out in analytics/tools/target_campaign.py):
--   retention: repeat buyers at medium/high churn risk, most value at stake first (churn x revenue)
--   win_back:  lapsed (critical risk or churn >= 0.7), most valuable first
--   upsell:    loyal repeat buyers (low risk) whose average order is at or below the store median
--   vip:       whale/vip tier not yet lost, most valuable first
--   seasonal:  bought in the coming two calendar months in an earlier year, not lost
WITH base AS (
    -- Columns of customer_profiles_summary_idx only; public ids are joined for the chosen rows.
    -- Money as float8: ranking 25k rows on numeric products is several times slower.
    SELECT p.customer_id, p.value_tier, p.orders, p.revenue::float8 AS revenue,
           p.avg_order_value::float8 AS avg_order_value, p.recency_days, p.churn_probability, p.risk_level,
           p.predicted_clv_12m::float8 AS predicted_clv_12m, p.expected_purchases_90d
    FROM run_members(%(run_id)s, %(axis)s, %(segment)s, %(archetype_id)s) p
    WHERE (%(min_value)s::numeric IS NULL OR p.revenue >= %(min_value)s::numeric)
), store AS (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY avg_order_value) AS median_aov
    FROM customer_profiles
    WHERE run_id = %(run_id)s AND avg_order_value IS NOT NULL
), windows AS (
    -- The coming two calendar months, in each of the ten previous years (range scans on ordered_at).
    SELECT date_trunc('month', %(as_of)s::timestamptz) + interval '1 month' - make_interval(years => y) AS starts,
           date_trunc('month', %(as_of)s::timestamptz) + interval '3 months' - make_interval(years => y) AS ends
    FROM generate_series(1, 10) AS y
    WHERE 'seasonal' = ANY(%(campaigns)s::text[])
), seasonal AS (
    SELECT DISTINCT o.customer_id
    FROM windows w
    JOIN orders o ON o.ordered_at >= w.starts AND o.ordered_at < w.ends AND o.kind = 'sale'
), eligible AS (
    SELECT k.campaign, b.*, s.median_aov
    FROM base b CROSS JOIN store s CROSS JOIN unnest(%(campaigns)s::text[]) AS k(campaign)
    WHERE CASE k.campaign
        WHEN 'retention' THEN b.orders >= 2 AND b.risk_level IN ('medium', 'high')
        WHEN 'win_back'  THEN b.risk_level = 'critical' OR b.churn_probability >= 0.7
        WHEN 'upsell'    THEN b.orders >= 2 AND b.risk_level = 'low' AND b.avg_order_value <= s.median_aov
        WHEN 'vip'       THEN b.value_tier IN ('whale', 'vip') AND b.risk_level IS DISTINCT FROM 'critical'
        WHEN 'seasonal'  THEN b.customer_id IN (SELECT customer_id FROM seasonal)
                              AND b.risk_level IS DISTINCT FROM 'critical'
        ELSE false END
), totals AS (
    SELECT campaign, count(*) AS eligible_count, sum(revenue) AS eligible_value
    FROM eligible
    GROUP BY campaign
), ranked AS (
    -- With limit 0 (totals only) this is never evaluated: ranking is the expensive part.
    SELECT e.*,
           row_number() OVER (PARTITION BY e.campaign ORDER BY
               CASE WHEN e.campaign = 'retention' THEN e.churn_probability * e.revenue END DESC NULLS LAST,
               CASE WHEN e.campaign = 'upsell' THEN e.expected_purchases_90d END DESC NULLS LAST,
               e.revenue DESC, e.customer_id) AS rn
    FROM eligible e
    WHERE %(limit)s > 0
), chosen AS (
    SELECT r.*, c.public_id,
           concat_ws(', ',
               CASE WHEN r.churn_probability IS NOT NULL THEN 'churn ' || round(r.churn_probability * 100) || '%%' END,
               r.orders || ' order(s)',
               'lifetime value ' || to_char(r.revenue, 'FM999,999,990.00'),
               CASE WHEN r.recency_days IS NOT NULL THEN 'last order ' || r.recency_days || ' days ago' END,
               CASE WHEN r.campaign = 'upsell'
                    THEN 'average order ' || to_char(r.avg_order_value, 'FM999,990.00') || ' vs store median '
                         || to_char(r.median_aov, 'FM999,990.00') END) AS reason
    FROM ranked r
    JOIN customers c ON c.customer_id = r.customer_id
    WHERE r.rn <= %(limit)s
)
-- One row per chosen customer; a campaign with none chosen (limit 0, or nobody eligible) still
-- returns one row with its totals and NULL customer fields.
-- (t's columns come last: with dict rows the later of two same-named columns wins.)
SELECT ch.*, t.campaign, t.eligible_count, t.eligible_value
FROM totals t
LEFT JOIN chosen ch ON ch.campaign = t.campaign
ORDER BY t.campaign, ch.rn;

-- name: contacts
-- Real ids, emails and names for the export file only (never for chat).
SELECT customer_id, store_customer_id, email, name
FROM customers
WHERE customer_id = ANY(%(customer_ids)s::bigint[]);
