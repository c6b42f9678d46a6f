-- Slack: event ids already handled (Slack retries unacknowledged events with the same event_id,
-- and several app instances may receive them), and answer feedback kept for review.

CREATE TABLE slack_events_seen (
    event_id  text PRIMARY KEY,
    seen_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX slack_events_seen_at_idx ON slack_events_seen (seen_at);

CREATE TABLE slack_feedback (
    feedback_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id      text NOT NULL,
    message_ts      text NOT NULL,
    user_id         text NOT NULL,              -- Slack's member id (U…), not a customer
    rating          text NOT NULL CHECK (rating IN ('positive', 'negative')),
    reason          text,
    tool            text,
    source          text,
    answer_excerpt  text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (channel_id, message_ts, user_id)    -- a second click changes the vote, not adds one
);
