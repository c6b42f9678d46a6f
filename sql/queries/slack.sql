-- name: mark_event_seen
-- One row per Slack event id; a retried delivery finds the row and returns nothing.
INSERT INTO slack_events_seen (event_id) VALUES (%(event_id)s)
ON CONFLICT (event_id) DO NOTHING
RETURNING event_id;

-- name: forget_old_events
-- Slack retries within minutes; a day of ids is plenty.
DELETE FROM slack_events_seen WHERE seen_at < now() - interval '1 day';

-- name: save_feedback
INSERT INTO slack_feedback (channel_id, message_ts, user_id, rating, tool, source, answer_excerpt)
VALUES (%(channel_id)s, %(message_ts)s, %(user_id)s, %(rating)s, %(tool)s, %(source)s, %(answer_excerpt)s)
ON CONFLICT (channel_id, message_ts, user_id)
DO UPDATE SET rating = EXCLUDED.rating, updated_at = now()
RETURNING feedback_id;

-- name: save_feedback_reason
UPDATE slack_feedback SET reason = %(reason)s, updated_at = now()
WHERE channel_id = %(channel_id)s AND message_ts = %(message_ts)s AND user_id = %(user_id)s
RETURNING feedback_id;

-- name: current_run
-- The published run readers see, and the latest run of any status (a failed run is shown as health).
SELECT
    (SELECT row_to_json(r) FROM (
        SELECT run_id, status, as_of, started_at, finished_at, counts, metrics
        FROM discovery_runs WHERE is_current) r) AS current_run,
    (SELECT row_to_json(r) FROM (
        SELECT run_id, status, started_at, finished_at, error
        FROM discovery_runs ORDER BY run_id DESC LIMIT 1) r) AS latest_run;

-- name: home_headline
-- Headline numbers of one run, in one pass over its profiles. Value at risk is the lifetime value
-- of the high/critical-risk customers, as analyze_customers reports it right below on the Home tab
-- (their predicted 12-month value is already shrunk by their low chance of being alive).
SELECT count(*)                                                              AS customers,
       coalesce(sum(p.revenue), 0)                                           AS revenue,
       count(*) FILTER (WHERE p.risk_level IN ('high', 'critical'))          AS customers_at_risk,
       coalesce(sum(p.revenue)
                FILTER (WHERE p.risk_level IN ('high', 'critical')), 0)      AS value_at_risk
FROM customer_profiles p
WHERE p.run_id = %(run_id)s;

-- name: record_question
INSERT INTO slack_questions (channel_id, thread_ts, user_id, question, listener, assistant_thread)
VALUES (%(channel_id)s, %(thread_ts)s, %(user_id)s, %(question)s, %(listener)s, %(assistant_thread)s)
RETURNING question_id;

-- name: finish_question
UPDATE slack_questions SET status = %(status)s, finished_at = now(), last_error = %(error)s
WHERE question_id = %(question_id)s AND status = 'pending';

-- name: claim_questions
-- Pending questions whose lease has run out, oldest first; claiming renews the lease so another
-- instance's sweep leaves them alone.
UPDATE slack_questions q
SET attempts = q.attempts + 1, next_attempt_at = now() + make_interval(secs => %(lease_seconds)s)
FROM (SELECT question_id FROM slack_questions
      WHERE status = 'pending' AND next_attempt_at <= now()
      ORDER BY next_attempt_at LIMIT %(limit)s FOR UPDATE SKIP LOCKED) due
WHERE q.question_id = due.question_id
RETURNING q.question_id, q.channel_id, q.thread_ts, q.user_id, q.question, q.listener, q.assistant_thread, q.attempts;

-- name: forget_old_questions
DELETE FROM slack_questions WHERE status <> 'pending' AND finished_at < now() - interval '7 days';
