-- Discovery runs and what they publish. A run's rows are written under its run_id while it is
-- 'running'; it becomes current in one transaction (is_current flips), so readers never see a mix.

CREATE TABLE discovery_runs (
    run_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status         text NOT NULL DEFAULT 'running'
                   CHECK (status IN ('running', 'published', 'failed', 'rejected')),
    is_current     boolean NOT NULL DEFAULT false,
    as_of          timestamptz NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    parameters     jsonb NOT NULL DEFAULT '{}',
    counts         jsonb NOT NULL DEFAULT '{}',   -- customers, orders, archetypes, insufficient_history ...
    stage_seconds  jsonb NOT NULL DEFAULT '{}',   -- features, clustering, churn, publish
    metrics        jsonb NOT NULL DEFAULT '{}',   -- churn model used, backtest AUC, fit diagnostics
    error          text
);
CREATE UNIQUE INDEX discovery_runs_one_current ON discovery_runs ((true)) WHERE is_current;

-- One row per behavioural axis per run: how well it clustered.
CREATE TABLE discovery_axes (
    run_id      bigint NOT NULL REFERENCES discovery_runs (run_id) ON DELETE CASCADE,
    axis        text NOT NULL,     -- frequency, value, exploration, price_sensitivity, cadence, maturity, repurchase, returns
    k           integer NOT NULL,
    silhouette  double precision,
    is_weak     boolean NOT NULL DEFAULT false,
    features    text[] NOT NULL,
    note        text,
    PRIMARY KEY (run_id, axis)
);

CREATE TABLE segments (
    run_id          bigint NOT NULL REFERENCES discovery_runs (run_id) ON DELETE CASCADE,
    axis            text NOT NULL,
    name            text NOT NULL,     -- stable readable name from the centroid, unique within the axis
    interpretation  text NOT NULL,
    centroid        jsonb NOT NULL,    -- feature -> value, in the feature's own units
    members         integer NOT NULL,  -- customers whose dominant segment this is
    PRIMARY KEY (run_id, axis, name)
);

CREATE TABLE archetypes (
    run_id          bigint NOT NULL REFERENCES discovery_runs (run_id) ON DELETE CASCADE,
    archetype_id    text NOT NULL,     -- content hash of the signature: same combination, same id
    name            text NOT NULL,
    description     text NOT NULL,
    signature       jsonb NOT NULL,    -- axis -> segment name
    members         integer NOT NULL,
    share           double precision NOT NULL,
    avg_clv         numeric(14, 2) NOT NULL,
    total_clv       numeric(16, 2) NOT NULL,
    avg_orders      double precision NOT NULL,
    PRIMARY KEY (run_id, archetype_id)
);

-- One row per customer per run: everything a question about a customer reads.
CREATE TABLE customer_profiles (
    run_id                  bigint NOT NULL REFERENCES discovery_runs (run_id) ON DELETE CASCADE,
    customer_id             bigint NOT NULL REFERENCES customers (customer_id),
    orders                  integer NOT NULL,
    revenue                 numeric(14, 2) NOT NULL,   -- net of discounts and returns, to as_of
    first_order_at          timestamptz,
    last_order_at           timestamptz,
    avg_order_value         numeric(12, 2),
    recency_days            integer,
    tenure_days             integer,
    history                 text NOT NULL DEFAULT 'full' CHECK (history IN ('full', 'insufficient')),
    features                jsonb NOT NULL DEFAULT '{}',
    memberships             jsonb NOT NULL DEFAULT '{}',  -- axis -> {segment: membership}, each axis sums to 1
    dominant_segments       jsonb NOT NULL DEFAULT '{}',  -- axis -> segment name
    segment_strengths       jsonb NOT NULL DEFAULT '{}',  -- axis -> strong | balanced | weak
    archetype_id            text,
    probability_alive       double precision,
    churn_probability       double precision,             -- of no purchase in the next 90 days
    risk_level              text CHECK (risk_level IN ('low', 'medium', 'high', 'critical')),
    churn_reasons           text[] NOT NULL DEFAULT '{}',
    expected_purchases_30d  double precision,
    expected_purchases_90d  double precision,
    predicted_clv_12m       numeric(14, 2),
    value_tier              text,                          -- whale | vip | high | regular | new
    PRIMARY KEY (run_id, customer_id)
);
CREATE INDEX customer_profiles_dominant_idx ON customer_profiles USING gin (dominant_segments);
CREATE INDEX customer_profiles_archetype_idx ON customer_profiles (run_id, archetype_id);
CREATE INDEX customer_profiles_churn_idx ON customer_profiles (run_id, churn_probability DESC);
