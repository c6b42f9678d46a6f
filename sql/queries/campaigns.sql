-- target_campaign: who to contact for each campaign type, from the current run's profiles.

-- name: select
-- For each campaign in %(campaigns)s: its best %(limit)s customers, each row carrying the totals over
-- everyone eligible (one scan serves several campaigns: get_recommendations asks for four at once).
-- Eligibility and ranking per campaign (the reasoning is spelled out in analytics/tools/target_campaign.py):
--   retention: repeat buyers whose lifecycle is at_risk, most value at stake first (churn x revenue)
--   win_back:  lapsed customers, most valuable first
--   upsell:    loyal repeat buyers (low risk) whose average order is at or below the store median
--   vip:       whale/vip tier not lapsed, most valuable first
--   seasonal:  bought in the coming two calendar months in an earlier year, not lapsed
--   product:   bought %(product_ids)s or its usual companion categories %(companions)s, not lapsed;
--              ranked by affinity (share of their spend on it, companions at half weight) x lifetime
--              value x chance of ordering again (1 - churn probability)
-- Runs made before lifecycle existed (NULL) fall back to the risk levels.
WITH base AS (
    -- Columns of customer_profiles_summary_idx only; public ids are joined for the chosen rows.
    -- Money as float8: ranking 25k rows on numeric products is several times slower.
    SELECT p.customer_id, p.value_tier, p.orders, p.revenue::float8 AS revenue,
           p.avg_order_value::float8 AS avg_order_value, p.recency_days, p.churn_probability, p.risk_level,
           p.predicted_clv_12m::float8 AS predicted_clv_12m, p.expected_purchases_90d,
           coalesce(p.lifecycle = 'lapsed', p.risk_level = 'critical' OR p.churn_probability >= 0.7) AS lapsed,
           coalesce(p.lifecycle = 'at_risk', p.risk_level IN ('medium', 'high')) AS at_risk
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
), affinity AS (
    -- Each customer's share of spend on the product(s) and on its companion categories.
    SELECT o.customer_id,
           coalesce(sum(x.v) FILTER (WHERE l.product_id = ANY (%(product_ids)s::bigint[])), 0)
               / nullif(sum(x.v), 0)                                                         AS own_share,
           coalesce(sum(x.v) FILTER (WHERE NOT l.product_id = ANY (%(product_ids)s::bigint[])
                                       AND coalesce(pr.category, 'uncategorized') = ANY (%(companions)s::text[])), 0)
               / nullif(sum(x.v), 0)                                                         AS companion_share
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    LEFT JOIN products pr ON pr.product_id = l.product_id
    CROSS JOIN LATERAL (SELECT greatest((l.quantity * l.unit_price - l.discount)::float8, 0) AS v) x
    WHERE 'product' = ANY (%(campaigns)s::text[]) AND o.kind = 'sale'
      AND o.customer_id IN (SELECT customer_id FROM base)
    GROUP BY o.customer_id
), eligible AS (
    SELECT k.campaign, b.*, s.median_aov, a.own_share, a.companion_share
    FROM base b CROSS JOIN store s CROSS JOIN unnest(%(campaigns)s::text[]) AS k(campaign)
    LEFT JOIN affinity a ON a.customer_id = b.customer_id
    WHERE CASE k.campaign
        WHEN 'retention' THEN b.orders >= 2 AND b.at_risk
        WHEN 'win_back'  THEN b.lapsed
        WHEN 'upsell'    THEN b.orders >= 2 AND b.risk_level = 'low' AND b.avg_order_value <= s.median_aov
        WHEN 'vip'       THEN b.value_tier IN ('whale', 'vip') AND NOT b.lapsed
        WHEN 'seasonal'  THEN b.customer_id IN (SELECT customer_id FROM seasonal) AND NOT b.lapsed
        WHEN 'product'   THEN (a.own_share > 0 OR a.companion_share > 0) AND NOT b.lapsed
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
               CASE WHEN e.campaign = 'product'
                    THEN (coalesce(e.own_share, 0) + 0.5 * coalesce(e.companion_share, 0)) * e.revenue
                         * (1 - coalesce(e.churn_probability, 0.5)) END DESC NULLS LAST,
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
                         || to_char(r.median_aov, 'FM999,990.00') END,
               CASE WHEN r.campaign = 'product' AND r.own_share > 0
                    THEN round(r.own_share * 100) || '%% of their spend on it' END,
               CASE WHEN r.campaign = 'product' AND r.companion_share > 0
                    THEN round(r.companion_share * 100) || '%% on what goes with it' END) AS reason
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

-- name: companions
-- Categories bought with the product(s) %(product_ids)s more often than chance (lift > 1), in at
-- least %(min_orders)s of their orders: what "goes with it" for a product campaign.
WITH anchor AS (
    SELECT DISTINCT order_id FROM order_lines WHERE product_id = ANY (%(product_ids)s::bigint[]) AND kind = 'sale'
), sold AS (
    SELECT l.order_id, coalesce(p.category, 'uncategorized') AS category
    FROM order_lines l
    LEFT JOIN products p ON p.product_id = l.product_id
    WHERE l.kind = 'sale' AND NOT l.product_id = ANY (%(product_ids)s::bigint[])
    GROUP BY 1, 2
), counts AS (
    SELECT category, count(*) AS orders, count(*) FILTER (WHERE order_id IN (SELECT order_id FROM anchor)) AS together
    FROM sold
    GROUP BY category
)
SELECT category, together,
       (together::float8 / nullif((SELECT count(*) FROM anchor), 0))
           / nullif(orders::float8 / nullif((SELECT count(DISTINCT order_id) FROM order_lines WHERE kind = 'sale'), 0), 0) AS lift
FROM counts
WHERE together >= %(min_orders)s AND category <> ALL (%(exclude)s::text[])
ORDER BY lift DESC, category;
