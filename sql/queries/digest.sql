-- Subscriptions to the customer review and the claim that makes one instance post each period.

-- name: subscribe
INSERT INTO digest_subscriptions (channel_id, cadence, subscribed_by)
VALUES (%(channel_id)s, %(cadence)s, %(user_id)s)
ON CONFLICT (channel_id) DO UPDATE SET cadence = EXCLUDED.cadence, subscribed_by = EXCLUDED.subscribed_by,
                                       subscribed_at = now();

-- name: unsubscribe
DELETE FROM digest_subscriptions WHERE channel_id = %(channel_id)s RETURNING cadence;

-- name: claim_due
-- The channels of this cadence not yet sent %(period)s, claimed for it (SKIP LOCKED: an instance
-- claiming at the same moment takes the others or none); the previous period comes back so a
-- failed post can be released.
WITH due AS (
    SELECT channel_id, last_period
    FROM digest_subscriptions
    WHERE cadence = %(cadence)s AND last_period IS DISTINCT FROM %(period)s
    FOR UPDATE SKIP LOCKED
)
UPDATE digest_subscriptions s SET last_period = %(period)s
FROM due
WHERE s.channel_id = due.channel_id
RETURNING s.channel_id, due.last_period AS previous_period;

-- name: release
UPDATE digest_subscriptions SET last_period = %(previous_period)s
WHERE channel_id = %(channel_id)s AND last_period = %(period)s;

-- name: subscriptions
SELECT channel_id, cadence, subscribed_by, subscribed_at FROM digest_subscriptions ORDER BY channel_id;
