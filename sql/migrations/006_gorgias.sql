-- The Gorgias inbox: every authenticated webhook delivery is stored here first, then drained by
-- workers. (ticket_id, message_id) is the idempotency key, so a redelivered webhook collapses
-- onto its first row. gorgias/inbox.py is the one place that reads and writes this table.

CREATE TABLE gorgias_inbox (
    event_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket_id        bigint NOT NULL,
    message_id       bigint NOT NULL,
    payload          jsonb NOT NULL,          -- the validated, normalised event (gorgias.webhook.TicketEvent)
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'processing', 'done', 'skipped', 'parked')),
    attempts         integer NOT NULL DEFAULT 0,   -- claims so far (a crashed claim counts)
    deliveries       integer NOT NULL DEFAULT 1,   -- webhook deliveries, duplicates included
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    locked_until     timestamptz,                  -- lease of the worker holding a 'processing' row
    skip_reason      text,
    last_error       text,
    note_message_id  bigint,                       -- the internal note's id in Gorgias
    received_at      timestamptz NOT NULL DEFAULT now(),
    processed_at     timestamptz,
    UNIQUE (ticket_id, message_id)
);
-- Workers look for claimable rows only; finished rows stay for the audit trail.
CREATE INDEX gorgias_inbox_claimable_idx ON gorgias_inbox (next_attempt_at, event_id)
    WHERE status IN ('pending', 'processing');
CREATE INDEX gorgias_inbox_status_idx ON gorgias_inbox (status);

-- Phone resolution compares the last nine digits (country codes and trunk zeros differ).
CREATE INDEX customers_phone_tail_idx ON customers (right(phone_digits, 9));
