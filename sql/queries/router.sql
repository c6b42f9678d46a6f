-- Queries of the question router: thread memory, token usage, and the names the offline
-- router recognises (segments, archetypes, categories of the current run / catalogue).

-- name: recent_turns
SELECT turn_id, question, answer, source, tool_calls, option_calls, asked_at
FROM router_turns
WHERE thread_key = %(thread_key)s
  AND asked_at > now() - make_interval(secs => %(ttl_seconds)s)
ORDER BY turn_id DESC
LIMIT %(max_turns)s;

-- name: thread_summary
SELECT summary
FROM router_threads
WHERE thread_key = %(thread_key)s
  AND updated_at > now() - make_interval(secs => %(ttl_seconds)s);

-- name: lock_thread
-- Serialises writers of one thread (two instances answering in the same Slack thread) until commit.
SELECT pg_advisory_xact_lock(hashtextextended(%(thread_key)s, 727005));

-- name: insert_turn
INSERT INTO router_turns (thread_key, question, answer, source, tool_calls, option_calls)
VALUES (%(thread_key)s, %(question)s, %(answer)s, %(source)s, %(tool_calls)s, %(option_calls)s)
RETURNING turn_id;

-- name: overflow_turns
-- Turns beyond the newest max_turns of a thread: folded into the summary, then deleted.
SELECT turn_id, question, tool_calls
FROM router_turns
WHERE thread_key = %(thread_key)s
ORDER BY turn_id DESC
OFFSET %(max_turns)s;

-- name: delete_turns
DELETE FROM router_turns WHERE turn_id = ANY(%(turn_ids)s);

-- name: upsert_summary
INSERT INTO router_threads (thread_key, summary, updated_at)
VALUES (%(thread_key)s, %(summary)s, now())
ON CONFLICT (thread_key) DO UPDATE
SET summary = right(router_threads.summary || EXCLUDED.summary, %(max_chars)s),
    updated_at = now();

-- name: touch_thread
INSERT INTO router_threads (thread_key, updated_at) VALUES (%(thread_key)s, now())
ON CONFLICT (thread_key) DO UPDATE SET updated_at = now();

-- name: purge_expired
WITH gone_turns AS (
    DELETE FROM router_turns WHERE asked_at < now() - make_interval(secs => %(ttl_seconds)s)
    RETURNING 1
), gone_threads AS (
    DELETE FROM router_threads WHERE updated_at < now() - make_interval(secs => %(ttl_seconds)s)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone_turns) AS turns, (SELECT count(*) FROM gone_threads) AS threads;

-- name: insert_usage
INSERT INTO router_usage (thread_key, user_id, source, model, rounds, input_tokens, output_tokens,
                          cache_creation_input_tokens, cache_read_input_tokens, tools, outcome,
                          fallback_reason, latency_ms)
VALUES (%(thread_key)s, %(user_id)s, %(source)s, %(model)s, %(rounds)s, %(input_tokens)s,
        %(output_tokens)s, %(cache_creation_input_tokens)s, %(cache_read_input_tokens)s, %(tools)s,
        %(outcome)s, %(fallback_reason)s, %(latency_ms)s);

-- name: usage_totals
-- Token spend over a window, for the store owner.
SELECT source, count(*) AS questions, sum(input_tokens) AS input_tokens,
       sum(output_tokens) AS output_tokens, sum(cache_read_input_tokens) AS cache_read_input_tokens,
       sum(cache_creation_input_tokens) AS cache_creation_input_tokens
FROM router_usage
WHERE asked_at > now() - make_interval(days => %(days)s)
GROUP BY source
ORDER BY source;

-- name: current_segments
SELECT s.axis, s.name
FROM segments s
JOIN discovery_runs r ON r.run_id = s.run_id
WHERE r.is_current
ORDER BY s.axis, s.name;

-- name: current_archetypes
SELECT a.archetype_id, a.name
FROM archetypes a
JOIN discovery_runs r ON r.run_id = a.run_id
WHERE r.is_current
ORDER BY a.members DESC;

-- name: categories
SELECT DISTINCT category
FROM products
WHERE category IS NOT NULL AND category <> ''
ORDER BY category
LIMIT 500;

-- name: anchor
-- The date relative periods are anchored to: the current run's as-of, else the latest order.
-- Its UTC day, as the tools' periods use, whatever the session's TimeZone.
SELECT (SELECT run_id FROM discovery_runs WHERE is_current) AS run_id,
       (coalesce((SELECT as_of FROM discovery_runs WHERE is_current),
                 (SELECT max(ordered_at) FROM orders)) AT TIME ZONE 'UTC')::date AS anchor;
