-- Alerts the bot posts unasked to the channels subscribed to the customer review (docs/ALERTS.md).
-- `alert_key` (kind:subject:period) is what makes an alert fire once: detection runs every hour on
-- every instance, and only the first insert of a key creates deliveries.
CREATE TABLE alerts (
    alert_id     bigserial PRIMARY KEY,
    alert_key    text NOT NULL UNIQUE,
    kind         text NOT NULL,
    subject      text NOT NULL,
    period       text NOT NULL,
    reason       text NOT NULL,
    -- The "see more" button: a tool call ({"tool": ..., "arguments": ...}) or {} for none.
    more         jsonb NOT NULL DEFAULT '{}',
    detected_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per (alert, channel subscribed when it fired). pending: held (quiet hours, the daily cap);
-- sent: claimed by an instance and posted (a failed post turns it back to pending); expired: held too
-- long to be news, dropped and counted.
CREATE TABLE alert_deliveries (
    alert_id    bigint NOT NULL REFERENCES alerts ON DELETE CASCADE,
    channel_id  text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'expired')),
    sent_at     timestamptz,
    PRIMARY KEY (alert_id, channel_id)
);
CREATE INDEX alert_deliveries_pending_idx ON alert_deliveries (channel_id) WHERE status = 'pending';
CREATE INDEX alert_deliveries_sent_idx ON alert_deliveries (channel_id, sent_at) WHERE status = 'sent';
