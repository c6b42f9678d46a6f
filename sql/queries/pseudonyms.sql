-- Pseudonymous customer ids. HMAC-SHA256 computed set-based in SQL from the key's inner and outer
-- pads (RFC 2104: H(key^opad || H(key^ipad || msg))), so no customer row travels to Python.

-- name: lock
SELECT pg_advisory_xact_lock(727004);

-- name: get_meta
SELECT value FROM app_meta WHERE key = %(key)s;

-- name: put_meta
INSERT INTO app_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now();

-- name: insert_meta_if_absent
INSERT INTO app_meta (key, value) VALUES (%(key)s, %(value)s)
ON CONFLICT (key) DO NOTHING;

-- name: clear_all
UPDATE customers SET public_id = NULL WHERE public_id IS NOT NULL;

-- name: fill_missing
-- %(salt)s is '' on the first pass; colliding customers get ':1', ':2', ... on later passes.
-- Within one pass the lowest customer_id keeps a contested id, so the outcome is deterministic.
WITH computed AS (
    SELECT customer_id,
           'C-' || upper(substr(encode(sha256(%(outer_pad)s::bytea || sha256(
               %(inner_pad)s::bytea || convert_to(store_customer_id || %(salt)s, 'UTF8'))), 'hex'), 1, 8)) AS pid
    FROM customers
    WHERE public_id IS NULL
), free AS (
    SELECT customer_id, pid, row_number() OVER (PARTITION BY pid ORDER BY customer_id) AS rn
    FROM computed c
    WHERE NOT EXISTS (SELECT 1 FROM customers taken WHERE taken.public_id = c.pid)
)
UPDATE customers SET public_id = free.pid
FROM free
WHERE free.customer_id = customers.customer_id AND free.rn = 1;

-- name: missing_count
SELECT count(*) AS n FROM customers WHERE public_id IS NULL;
