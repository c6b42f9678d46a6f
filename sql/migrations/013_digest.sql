-- Channels subscribed to the customer review (`/customer-digest weekly|daily|off`). `last_period` is
-- the review period last posted there: an instance claims a (channel, period) by moving it, so with
-- several instances running each period is posted once.
CREATE TABLE digest_subscriptions (
    channel_id     text PRIMARY KEY,
    cadence        text NOT NULL CHECK (cadence IN ('weekly', 'daily')),
    subscribed_by  text NOT NULL,
    subscribed_at  timestamptz NOT NULL DEFAULT now(),
    last_period    text
);
