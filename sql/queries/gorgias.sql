-- Gorgias inbox (gorgias/inbox.py) and customer resolution (gorgias/resolve.py).

-- name: enqueue
-- One statement for a whole group-commit batch (one round trip, then one WAL flush at commit).
-- A redelivery of the same (ticket, message) only counts the delivery; xmax = 0 marks a new row.
-- The batch has no repeated keys (gorgias/inbox.py folds them into `deliveries`): ON CONFLICT may
-- touch a row only once per statement. The NOTIFY wakes workers in other processes, at commit.
WITH stored AS (
    INSERT INTO gorgias_inbox (ticket_id, message_id, payload, deliveries)
    SELECT * FROM unnest(%(ticket_ids)s::bigint[], %(message_ids)s::bigint[], %(payloads)s::jsonb[],
                         %(deliveries)s::int[])
    ON CONFLICT (ticket_id, message_id) DO UPDATE SET deliveries = gorgias_inbox.deliveries + excluded.deliveries
    RETURNING event_id, ticket_id, message_id, (xmax = 0) AS inserted
), wake AS (
    SELECT pg_notify('gorgias_inbox', '')
)
SELECT stored.* FROM stored, wake;

-- name: notify
-- Wakes workers in other processes (they LISTEN on this channel); delivered at commit.
SELECT pg_notify('gorgias_inbox', '');

-- name: listen
LISTEN gorgias_inbox;

-- name: claim
-- Due pending rows, plus rows whose worker's lease ran out (it crashed or hung). SKIP LOCKED lets
-- several workers, in one process or many, drain one inbox without taking the same row.
UPDATE gorgias_inbox AS inbox
SET status = 'processing',
    attempts = inbox.attempts + 1,
    locked_until = now() + make_interval(secs => %(lease_seconds)s)
FROM (
    SELECT event_id FROM gorgias_inbox
    WHERE (status = 'pending' AND next_attempt_at <= now())
       OR (status = 'processing' AND locked_until < now())
    ORDER BY event_id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
) AS due
WHERE inbox.event_id = due.event_id
RETURNING inbox.event_id, inbox.ticket_id, inbox.message_id, inbox.payload, inbox.attempts,
          inbox.last_error, inbox.received_at;

-- name: extend_lease
-- Before posting: drafting (Claude) or earlier events of the batch may have used much of the lease,
-- and the post must finish inside it. `attempts` still being ours proves no other worker re-claimed
-- the event meanwhile (a claim increments it); no row back means: hands off, it is theirs now.
UPDATE gorgias_inbox SET locked_until = now() + make_interval(secs => %(lease_seconds)s)
WHERE event_id = %(event_id)s AND status = 'processing' AND attempts = %(attempts)s
RETURNING event_id;

-- name: mark_finished
-- A worker's batch of outcomes in one statement: 'done' (with the note's id) or 'skipped' (reason).
UPDATE gorgias_inbox AS inbox
SET status = f.status, note_message_id = f.note_message_id, skip_reason = f.reason,
    processed_at = now(), locked_until = NULL,
    last_error = CASE WHEN f.status = 'done' THEN NULL ELSE inbox.last_error END
FROM unnest(%(event_ids)s::bigint[], %(statuses)s::text[], %(note_ids)s::bigint[], %(reasons)s::text[])
     AS f(event_id, status, note_message_id, reason)
WHERE inbox.event_id = f.event_id;

-- name: mark_done
UPDATE gorgias_inbox
SET status = 'done', note_message_id = %(note_message_id)s, processed_at = now(),
    locked_until = NULL, last_error = NULL
WHERE event_id = %(event_id)s;

-- name: mark_skipped
UPDATE gorgias_inbox
SET status = 'skipped', skip_reason = %(reason)s, processed_at = now(), locked_until = NULL
WHERE event_id = %(event_id)s;

-- name: mark_retry
UPDATE gorgias_inbox
SET status = 'pending', last_error = %(error)s, locked_until = NULL,
    next_attempt_at = now() + make_interval(secs => %(delay_seconds)s)
WHERE event_id = %(event_id)s;

-- name: mark_parked
UPDATE gorgias_inbox
SET status = 'parked', last_error = %(error)s, processed_at = now(), locked_until = NULL
WHERE event_id = %(event_id)s;

-- name: requeue_parked
UPDATE gorgias_inbox
SET status = 'pending', attempts = 0, next_attempt_at = now(), processed_at = NULL
WHERE status = 'parked'
RETURNING event_id;

-- name: status_counts
SELECT status, count(*) AS events, sum(deliveries - 1) AS duplicates,
       min(received_at) AS oldest, max(received_at) AS newest
FROM gorgias_inbox GROUP BY status ORDER BY status;

-- name: depth
-- Events not finished, by status, for the inbox-depth gauge (done and skipped rows are not counted).
SELECT status, count(*) AS events
FROM gorgias_inbox
WHERE status IN ('pending', 'processing', 'parked')
GROUP BY status;

-- name: parked
SELECT event_id, ticket_id, message_id, attempts, last_error, processed_at
FROM gorgias_inbox WHERE status = 'parked' ORDER BY event_id LIMIT %(limit)s;

-- name: skip_reasons
SELECT skip_reason, count(*) AS events FROM gorgias_inbox
WHERE status = 'skipped' GROUP BY skip_reason ORDER BY events DESC;

-- name: resolve_many
-- Customer resolution for a batch of tickets in one statement. Each ticket (idx) offers identifiers
-- (kind, pos = preference within the kind, value); the best match per ticket wins: any store id
-- before any email before any phone, then the payload's order, then (phones) the exact number,
-- then the lowest customer id -- the same order the one-ticket queries below apply.
WITH wanted AS (
    SELECT * FROM unnest(%(idx)s::int[], %(kinds)s::int[], %(pos)s::int[], %(vals)s::text[]) AS w(idx, kind, pos, val)
), found AS (
    SELECT w.idx, w.kind, w.pos, false AS exact, c.customer_id
    FROM wanted w JOIN customers c ON c.store_customer_id = w.val WHERE w.kind = 0
    UNION ALL
    SELECT w.idx, w.kind, w.pos, false, c.customer_id
    FROM wanted w JOIN customers c ON lower(c.email) = w.val WHERE w.kind = 1
    UNION ALL
    SELECT w.idx, w.kind, w.pos, c.phone_digits = w.val, c.customer_id
    FROM wanted w JOIN customers c ON right(c.phone_digits, 9) = right(w.val, 9) WHERE w.kind = 2
)
SELECT DISTINCT ON (idx) idx, kind, customer_id FROM found
ORDER BY idx, kind, pos, exact DESC, customer_id;

-- name: customer_by_store_id
SELECT customer_id FROM customers WHERE store_customer_id = ANY(%(store_ids)s)
ORDER BY array_position(%(store_ids)s::text[], store_customer_id) LIMIT 1;

-- name: customer_by_email
SELECT customer_id FROM customers WHERE lower(email) = %(email)s ORDER BY customer_id LIMIT 1;

-- name: customer_by_phone
-- Matching on the last nine digits makes "+44 7700 900123" and "07700 900123" the same number.
SELECT customer_id FROM customers
WHERE right(phone_digits, 9) = right(%(digits)s, 9)
ORDER BY (phone_digits = %(digits)s) DESC, customer_id LIMIT 1;

-- name: customer_orders_summary
-- The facts a note needs when the shared enrichment is unavailable: straight from the orders.
SELECT c.customer_id, c.public_id, c.store_customer_id, c.name, c.email,
       count(o.order_id) FILTER (WHERE o.kind = 'sale') AS orders,
       coalesce(sum(o.total) FILTER (WHERE o.kind IN ('sale', 'return')), 0) AS lifetime_value,
       min(o.ordered_at) FILTER (WHERE o.kind = 'sale') AS first_order_at,
       max(o.ordered_at) FILTER (WHERE o.kind = 'sale') AS last_order_at
FROM customers c LEFT JOIN orders o ON o.customer_id = c.customer_id
WHERE c.customer_id = %(customer_id)s
GROUP BY c.customer_id;

-- name: customer_recent_orders
SELECT o.store_order_id, o.ordered_at, o.kind, o.total,
       coalesce(sum(l.quantity), 0) AS items,
       coalesce(array_agg(DISTINCT p.category) FILTER (WHERE p.category IS NOT NULL), '{}') AS categories
FROM orders o
LEFT JOIN order_lines l ON l.order_id = o.order_id
LEFT JOIN products p ON p.product_id = l.product_id
WHERE o.customer_id = %(customer_id)s AND o.kind IN ('sale', 'return')
GROUP BY o.order_id
ORDER BY o.ordered_at DESC
LIMIT %(limit)s;

-- name: customers_recent_orders
-- customer_recent_orders for several customers in one statement (a worker's batch).
SELECT c.customer_id, r.*
FROM unnest(%(customer_ids)s::bigint[]) AS c(customer_id)
CROSS JOIN LATERAL (
    SELECT o.store_order_id, o.ordered_at, o.kind, o.total,
           coalesce(sum(l.quantity), 0) AS items,
           coalesce(array_agg(DISTINCT p.category) FILTER (WHERE p.category IS NOT NULL), '{}') AS categories
    FROM orders o
    LEFT JOIN order_lines l ON l.order_id = o.order_id
    LEFT JOIN products p ON p.product_id = l.product_id
    WHERE o.customer_id = c.customer_id AND o.kind IN ('sale', 'return')
    GROUP BY o.order_id
    ORDER BY o.ordered_at DESC
    LIMIT %(limit)s
) AS r
ORDER BY c.customer_id, r.ordered_at DESC;

-- name: customer_current_profile
SELECT p.value_tier, p.churn_probability, p.risk_level, p.churn_reasons, p.dominant_segments,
       p.predicted_clv_12m, a.name AS archetype_name
FROM customer_profiles p
JOIN discovery_runs r ON r.run_id = p.run_id AND r.is_current
LEFT JOIN archetypes a ON a.run_id = p.run_id AND a.archetype_id = p.archetype_id
WHERE p.customer_id = %(customer_id)s;

-- name: latest_order
SELECT max(ordered_at) AS latest FROM orders;

-- name: relaxed_commit
-- For the worker's bookkeeping only: losing a 'done' in a crash is safe (the event is re-claimed
-- and finds its own note on the ticket), so it need not wait for the WAL flush. Intake and claims
-- stay fully durable.
SET LOCAL synchronous_commit TO OFF;

-- name: customers_facts
-- The shared enrichment's reads (enrichment.customer + enrichment.order_stats) for a worker's whole
-- batch in one statement: each customer's store facts, profile in %(run_id)s (NULLs when the run has
-- not scored them) and order figures. As in analytics/enrichment.py, a profiled customer's order
-- figures count orders up to the run's %(as_of)s, plus (fresh) those after it; an unprofiled
-- customer's (or with no run) count all.
SELECT c.customer_id, c.public_id, c.store_customer_id, c.name, c.email, c.phone, c.country,
       p.run_id, p.orders, p.revenue, p.first_order_at, p.last_order_at, p.avg_order_value,
       p.recency_days, p.tenure_days, p.history, p.memberships, p.dominant_segments,
       p.segment_strengths, p.archetype_id, p.probability_alive, p.churn_probability,
       p.risk_level, p.churn_reasons, p.expected_purchases_30d, p.expected_purchases_90d,
       p.predicted_clv_12m, p.value_tier, a.name AS archetype_name,
       s.orders AS stats_orders, s.revenue AS stats_revenue, s.first_order_at AS stats_first_order_at,
       s.last_order_at AS stats_last_order_at, s.discounted_orders, s.last_return_at,
       latest.store_latest_order_at, fresh.orders_since_run, fresh.revenue_since_run,
       fresh.last_order_since_run
FROM unnest(%(customer_ids)s::bigint[]) AS wanted(customer_id)
JOIN customers c ON c.customer_id = wanted.customer_id
LEFT JOIN customer_profiles p ON p.customer_id = c.customer_id AND p.run_id = %(run_id)s
LEFT JOIN archetypes a ON a.run_id = p.run_id AND a.archetype_id = p.archetype_id
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE o.kind = 'sale')                              AS orders,
           coalesce(sum(o.total) FILTER (WHERE o.kind IN ('sale', 'return')), 0) AS revenue,
           min(o.ordered_at) FILTER (WHERE o.kind = 'sale')                       AS first_order_at,
           max(o.ordered_at) FILTER (WHERE o.kind = 'sale')                       AS last_order_at,
           count(*) FILTER (WHERE o.kind = 'sale' AND o.discount_total > 0)       AS discounted_orders,
           max(o.ordered_at) FILTER (WHERE o.kind = 'return')                     AS last_return_at
    FROM orders o
    WHERE o.customer_id = c.customer_id
      AND (p.run_id IS NULL OR %(as_of)s::timestamptz IS NULL OR o.ordered_at <= %(as_of)s::timestamptz)
) AS s
-- As enrichment.orders_since_run: a profiled customer's orders after the run, added to its figures.
CROSS JOIN LATERAL (
    SELECT count(*) FILTER (WHERE o.kind = 'sale')                              AS orders_since_run,
           coalesce(sum(o.total) FILTER (WHERE o.kind IN ('sale', 'return')), 0) AS revenue_since_run,
           max(o.ordered_at) FILTER (WHERE o.kind = 'sale')                       AS last_order_since_run
    FROM orders o
    WHERE p.run_id IS NOT NULL AND %(as_of)s::timestamptz IS NOT NULL
      AND o.customer_id = c.customer_id AND o.ordered_at > %(as_of)s::timestamptz
) AS fresh
CROSS JOIN (SELECT max(ordered_at) AS store_latest_order_at FROM orders) AS latest;
