-- The weekly review's own reads (analytics/review.py); its other figures are the tools' answers.

-- name: lapsed_since
-- Customers lapsed in run %(run_id)s who were not lapsed in the earlier run %(old_run_id)s (new ones
-- included: a customer first seen since then cannot have lapsed since), most valuable first: how many,
-- the lifetime value they held, and the first %(limit)s. The stage is discovery/lifecycle.py's.
WITH moved AS (
    SELECT p.customer_id, p.revenue::float8 AS revenue, p.value_tier, p.recency_days
    FROM customer_profiles p
    JOIN customer_profiles old ON old.run_id = %(old_run_id)s AND old.customer_id = p.customer_id
    WHERE p.run_id = %(run_id)s AND p.lifecycle = 'lapsed' AND old.lifecycle IS DISTINCT FROM 'lapsed'
)
SELECT c.public_id, m.value_tier, m.revenue, m.recency_days,
       count(*) OVER () AS customers, sum(m.revenue) OVER () AS total_revenue
FROM moved m
JOIN customers c ON c.customer_id = m.customer_id
ORDER BY m.revenue DESC, c.public_id
LIMIT %(limit)s;
