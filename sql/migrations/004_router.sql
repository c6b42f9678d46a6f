-- The question router: thread memory (so any instance continues any Slack thread or console
-- session) and token usage per question (the store owner pays for it).

-- One row per answered turn. Old turns are folded into router_threads.summary and deleted,
-- so a thread stays small; expired threads are purged by TTL.
CREATE TABLE router_turns (
    turn_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    thread_key    text NOT NULL,              -- slack:{channel}:{thread_ts} | console:{uuid}
    asked_at      timestamptz NOT NULL DEFAULT now(),
    question      text NOT NULL,
    answer        text NOT NULL,
    source        text NOT NULL CHECK (source IN ('claude', 'offline')),
    tool_calls    jsonb NOT NULL DEFAULT '[]',  -- [{tool, arguments, result (trimmed), error}]
    option_calls  jsonb NOT NULL DEFAULT '[]'   -- a pending clarification: the call behind each option
);
CREATE INDEX router_turns_thread_idx ON router_turns (thread_key, turn_id DESC);
CREATE INDEX router_turns_asked_idx ON router_turns (asked_at);

CREATE TABLE router_threads (
    thread_key  text PRIMARY KEY,
    summary     text NOT NULL DEFAULT '',     -- one line per dropped turn, capped
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE router_usage (
    usage_id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    asked_at                     timestamptz NOT NULL DEFAULT now(),
    thread_key                   text,
    user_id                      text,
    source                       text NOT NULL,
    model                        text,
    rounds                       integer NOT NULL DEFAULT 0,
    input_tokens                 integer NOT NULL DEFAULT 0,
    output_tokens                integer NOT NULL DEFAULT 0,
    cache_creation_input_tokens  integer NOT NULL DEFAULT 0,
    cache_read_input_tokens      integer NOT NULL DEFAULT 0,
    tools                        text[] NOT NULL DEFAULT '{}',
    outcome                      text NOT NULL,   -- answer | clarification | refusal | error | route
    fallback_reason              text,
    latency_ms                   integer
);
CREATE INDEX router_usage_asked_idx ON router_usage (asked_at);
