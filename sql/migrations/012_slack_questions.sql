-- Slack questions as durable records (the Gorgias inbox's pattern): every acknowledged mention or
-- DM is written down before it is answered, so one whose answer could not be produced (a dropped
-- database connection, a crash mid-answer) is answered later by the retry sweep instead of lost.
-- (Numbered after main's 011_lifecycle.)

CREATE TABLE slack_questions (
    question_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel_id        text NOT NULL,
    thread_ts         text NOT NULL,
    user_id           text,                    -- Slack's member id (U…), not a customer
    question          text NOT NULL,
    listener          text NOT NULL,
    assistant_thread  boolean NOT NULL DEFAULT false,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'answered', 'apologised')),
    attempts          integer NOT NULL DEFAULT 1,
    last_error        text,
    received_at       timestamptz NOT NULL DEFAULT now(),
    -- While an answer is being worked on this is its lease: past it, the sweep takes the question.
    next_attempt_at   timestamptz NOT NULL DEFAULT now() + interval '2 minutes',
    finished_at       timestamptz
);
CREATE INDEX slack_questions_due_idx ON slack_questions (next_attempt_at) WHERE status = 'pending';
