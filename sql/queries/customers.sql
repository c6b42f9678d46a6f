-- analyze_customers: one page of customers from the current run plus totals over the whole
-- matching set (not just the page).

-- name: page
-- One numeric sort key per ranking lets PostgreSQL keep only the top rows (top-N heap sort)
-- instead of sorting everyone; public ids are joined for the page only.
WITH matching AS MATERIALIZED (
    SELECT *
    FROM matching_customers(%(run_id)s, %(axis)s::text, %(segment)s::text, %(archetype_id)s::text,
                            %(value_tier)s::text, %(risk_levels)s::text[], %(min_value)s::numeric,
                            %(lifecycle)s::text, %(product_ids)s::bigint[], %(start)s::timestamptz,
                            %(end)s::timestamptz, %(sort_by)s::text)
), totals AS (
    SELECT count(*)                                                              AS customers,
           coalesce(sum(revenue), 0)                                             AS lifetime_value,
           count(*) FILTER (WHERE risk_level IN ('high', 'critical'))            AS customers_at_risk,
           coalesce(sum(revenue) FILTER (WHERE risk_level IN ('high', 'critical')), 0) AS value_at_risk,
           coalesce(sum(predicted_clv_12m), 0)                                   AS predicted_value_12m,
           coalesce(sum(churn_probability * annual_spend), 0)                    AS expected_12m_loss,
           avg(churn_probability)                                                AS average_churn_probability,
           sum(bought_spend)                                                     AS bought_spend,
           sum(bought_units)                                                     AS bought_units
    FROM matching
), page AS (
    SELECT m.*, c.public_id
    FROM (SELECT * FROM matching
          ORDER BY sort_key DESC NULLS LAST, revenue DESC, customer_id
          LIMIT %(limit)s OFFSET %(offset)s) m
    JOIN customers c ON c.customer_id = m.customer_id
)
SELECT to_jsonb(t) AS totals,
       coalesce((SELECT jsonb_agg(to_jsonb(pg) || jsonb_build_object('archetype_name', a.name)
                                  ORDER BY pg.sort_key DESC NULLS LAST, pg.revenue DESC, pg.customer_id)
                 FROM page pg
                 LEFT JOIN archetypes a ON a.run_id = %(run_id)s AND a.archetype_id = pg.archetype_id),
                '[]'::jsonb) AS rows
FROM totals t;

-- name: export
-- Every matching customer (not one page) for the Slack "Export CSV" button, in the page's order
-- and with the page's columns, pseudonymous ids only; at most %(max_rows)s rows, plus the count
-- of everyone matching so the caller can say when the file was capped.
WITH matching AS MATERIALIZED (
    SELECT *
    FROM matching_customers(%(run_id)s, %(axis)s::text, %(segment)s::text, %(archetype_id)s::text,
                            %(value_tier)s::text, %(risk_levels)s::text[], %(min_value)s::numeric,
                            %(lifecycle)s::text, %(product_ids)s::bigint[], %(start)s::timestamptz,
                            %(end)s::timestamptz, %(sort_by)s::text)
), kept AS (
    SELECT * FROM matching
    ORDER BY sort_key DESC NULLS LAST, revenue DESC, customer_id
    LIMIT %(max_rows)s
)
SELECT c.public_id, k.value_tier, k.lifecycle, k.orders, k.revenue AS lifetime_value,
       k.avg_order_value AS average_order_value, k.recency_days AS days_since_last_order, k.churn_probability,
       k.risk_level, round(k.value_at_stake::numeric, 2)::float8 AS value_at_stake,
       k.predicted_clv_12m AS predicted_value_12m, k.expected_purchases_90d,
       k.archetype_id, round(k.bought_spend::numeric, 2)::float8 AS bought_spend, k.bought_units,
       k.bought_orders, a.name AS archetype_name, (SELECT count(*) FROM matching) AS matching
FROM kept k
JOIN customers c ON c.customer_id = k.customer_id
LEFT JOIN archetypes a ON a.run_id = %(run_id)s AND a.archetype_id = k.archetype_id
ORDER BY k.sort_key DESC NULLS LAST, k.revenue DESC, k.customer_id;

-- name: orders_since_run
-- The listed customers' orders after the run's %(as_of)s (arrived since: a sync, a webhook, an
-- import), so a list read from the run shows current orders, spend and recency before the next run
-- re-scores: the same definitions as enrichment.orders_since_run, and recency measured from the
-- store's latest order as the card measures it.
SELECT c.public_id, count(*) FILTER (WHERE o.kind = 'sale')                  AS orders_since_run,
       coalesce(sum(o.total) FILTER (WHERE o.kind IN ('sale', 'return')), 0) AS revenue_since_run,
       max(o.ordered_at) FILTER (WHERE o.kind = 'sale')                       AS last_order_since_run,
       (SELECT max(ordered_at) FROM orders)                                   AS store_latest_order_at
FROM customers c
JOIN orders o ON o.customer_id = c.customer_id
WHERE c.public_id = ANY (%(public_ids)s::text[]) AND o.ordered_at > %(as_of)s::timestamptz
GROUP BY c.public_id;
