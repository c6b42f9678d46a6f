-- Turning what a user typed into ids: customers, segments and archetypes of a run.

-- name: customer_by_public_id
SELECT customer_id FROM customers WHERE public_id = %(public_id)s;

-- name: customer_by_store_id
SELECT customer_id FROM customers WHERE store_customer_id = %(store_id)s;

-- name: customer_by_email
-- Several rows can share an email in some exports: the one with the most recent order wins.
SELECT c.customer_id
FROM customers c
LEFT JOIN LATERAL (SELECT max(o.ordered_at) AS last_at FROM orders o WHERE o.customer_id = c.customer_id) o ON true
WHERE lower(c.email) = lower(%(email)s)
ORDER BY o.last_at DESC NULLS LAST, c.customer_id
LIMIT 1;

-- name: customer_by_phone
-- Matches on the digits; the last 9 digits tolerate a missing or different country prefix.
SELECT c.customer_id
FROM customers c
LEFT JOIN LATERAL (SELECT max(o.ordered_at) AS last_at FROM orders o WHERE o.customer_id = c.customer_id) o ON true
WHERE c.phone_digits = %(digits)s
   OR (length(%(digits)s) >= 9 AND right(c.phone_digits, 9) = right(%(digits)s, 9))
ORDER BY (c.phone_digits = %(digits)s) DESC, o.last_at DESC NULLS LAST, c.customer_id
LIMIT 1;

-- name: segments
SELECT axis, name, members FROM segments WHERE run_id = %(run_id)s ORDER BY axis, members DESC;

-- name: archetypes
SELECT archetype_id, name, members FROM archetypes WHERE run_id = %(run_id)s ORDER BY members DESC;
