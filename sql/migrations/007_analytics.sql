-- Analytics read paths. Profiles rows are wide (features and memberships as JSONB, ~2 KB each), so
-- whole-run aggregates and rankings read a narrow covering index instead of the table: an
-- index-only scan touches a few MB instead of ~50 MB for 27k customers.
CREATE INDEX customer_profiles_summary_idx ON customer_profiles (run_id)
    INCLUDE (customer_id, orders, revenue, avg_order_value, recency_days, churn_probability, risk_level,
             predicted_clv_12m, expected_purchases_90d, value_tier, archetype_id, dominant_segments,
             segment_strengths);
