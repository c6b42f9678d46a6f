"""Order import, the synthetic store, behavioural features, segments, archetypes, churn and value models."""
