-- Alerts (analytics/alerts.py finds them, bot/alerts.py records and posts them; docs/ALERTS.md).

-- name: newly_at_risk
-- Customers of the given value tiers who are at_risk in the current run and were new or active in
-- the previous one. The stage is discovery/lifecycle.py's, the tier discovery/pipeline.py's, and value
-- at stake is matching_customers' (churn probability x recent annual spend), as analyze_customers
-- ranks it: one definition of each.
SELECT c.public_id, m.value_tier, m.revenue, m.recency_days, m.churn_probability, m.value_at_stake,
       prev.lifecycle AS previous_lifecycle, (p.features ->> 'overdue_gaps')::float8 AS overdue_gaps
FROM matching_customers(%(run_id)s, NULL, NULL, NULL, NULL, NULL, NULL, 'at_risk', NULL, NULL, NULL,
                        'value_at_stake') m
JOIN customer_profiles prev ON prev.run_id = %(previous_run_id)s AND prev.customer_id = m.customer_id
JOIN customer_profiles p ON p.run_id = %(run_id)s AND p.customer_id = m.customer_id
JOIN customers c ON c.customer_id = m.customer_id
WHERE m.value_tier = ANY (%(tiers)s)
  AND prev.lifecycle IN ('new', 'active')
ORDER BY m.value_at_stake DESC NULLS LAST, c.public_id
LIMIT %(limit)s;

-- name: returns_by_item
-- Return orders per category and per product: in the week [%(start)s, %(end)s) and in the
-- %(baseline_weeks)s weeks before it (a return order counts once per category / product it holds).
WITH returned AS (
    SELECT DISTINCT o.order_id, p.category, p.sku, p.title, o.ordered_at >= %(start)s AS in_week
    FROM orders o
    JOIN order_lines l ON l.order_id = o.order_id
    JOIN products p ON p.product_id = l.product_id
    WHERE o.kind = 'return'
      AND o.ordered_at >= %(start)s - make_interval(weeks => %(baseline_weeks)s)
      AND o.ordered_at < %(end)s
)
SELECT 'category' AS item_kind, category AS item, category AS label, category,
       count(DISTINCT order_id) FILTER (WHERE in_week) AS week_returns,
       count(DISTINCT order_id) FILTER (WHERE NOT in_week) AS baseline_returns
FROM returned WHERE category IS NOT NULL
GROUP BY category
UNION ALL
SELECT 'product', sku, coalesce(title, sku), category,
       count(DISTINCT order_id) FILTER (WHERE in_week),
       count(DISTINCT order_id) FILTER (WHERE NOT in_week)
FROM returned
GROUP BY sku, title, category;

-- name: health
-- What the stale-data and discovery alerts look at: the newest order, the current run and its age,
-- and the latest run of any status (a failure newer than the current run).
SELECT (SELECT max(ordered_at) FROM orders WHERE kind IN ('sale', 'return'))               AS latest_order_at,
       c.run_id AS current_run_id, c.finished_at AS current_finished_at,
       l.run_id AS latest_run_id, l.status AS latest_status, l.error AS latest_error,
       l.started_at AS latest_started_at
FROM (SELECT 1) one
LEFT JOIN discovery_runs c ON c.is_current
LEFT JOIN LATERAL (SELECT run_id, status, error, started_at FROM discovery_runs
                   ORDER BY run_id DESC LIMIT 1) l ON true;

-- name: record
-- An alert seen for the first time, with a delivery for every channel subscribed now; an alert key
-- already recorded (by this instance an hour ago or by another one a moment ago) inserts nothing.
WITH new_alert AS (
    INSERT INTO alerts (alert_key, kind, subject, period, reason, more, detected_at)
    VALUES (%(alert_key)s, %(kind)s, %(subject)s, %(period)s, %(reason)s, %(more)s, %(now)s)
    ON CONFLICT (alert_key) DO NOTHING
    RETURNING alert_id
)
INSERT INTO alert_deliveries (alert_id, channel_id)
SELECT new_alert.alert_id, s.channel_id
FROM new_alert CROSS JOIN digest_subscriptions s
RETURNING alert_id, channel_id;

-- name: expire_held
-- Held so long it is no longer news: dropped (the count is logged).
UPDATE alert_deliveries d SET status = 'expired'
FROM alerts a
WHERE a.alert_id = d.alert_id AND d.status = 'pending' AND a.detected_at < %(now)s - make_interval(hours => %(hours)s)
RETURNING d.alert_id, d.channel_id, a.kind;

-- name: claim_due
-- The held alerts each subscribed channel may still get today (%(day_start)s: the store's midnight),
-- oldest first, claimed as sent. The channel's subscription row is locked for the claim (SKIP LOCKED):
-- two instances never count one channel's cap at the same time. An unsubscribed channel matches no
-- subscription and so gets nothing.
WITH channels AS (
    SELECT channel_id FROM digest_subscriptions ORDER BY channel_id FOR UPDATE SKIP LOCKED
), sent_today AS (
    SELECT d.channel_id, count(*) AS sent
    FROM alert_deliveries d JOIN channels USING (channel_id)
    WHERE d.status = 'sent' AND d.sent_at >= %(day_start)s
    GROUP BY d.channel_id
), ranked AS (
    SELECT d.alert_id, d.channel_id,
           row_number() OVER (PARTITION BY d.channel_id ORDER BY a.detected_at, a.alert_id)
               + coalesce(t.sent, 0) AS nth_today
    FROM alert_deliveries d
    JOIN channels USING (channel_id)
    JOIN alerts a ON a.alert_id = d.alert_id
    LEFT JOIN sent_today t ON t.channel_id = d.channel_id
    WHERE d.status = 'pending'
)
UPDATE alert_deliveries d SET status = 'sent', sent_at = %(now)s
FROM ranked r, alerts a
WHERE d.alert_id = r.alert_id AND d.channel_id = r.channel_id AND a.alert_id = d.alert_id
  AND r.nth_today <= %(per_day)s
RETURNING d.alert_id, d.channel_id, a.kind, a.subject, a.period, a.reason, a.more, a.detected_at;

-- name: held_count
SELECT count(*) AS held FROM alert_deliveries d JOIN digest_subscriptions s USING (channel_id)
WHERE d.status = 'pending';

-- name: release
UPDATE alert_deliveries SET status = 'pending', sent_at = NULL
WHERE alert_id = %(alert_id)s AND channel_id = %(channel_id)s AND status = 'sent';
