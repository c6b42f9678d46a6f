"""The tool modules, in the order the offline router's menu lists them. Adding a tool = its module
(input model, result model, one `@tool` function) + one line here."""
TOOL_MODULES: tuple[str, ...] = (
    "analytics.tools.analyze_customers",
    "analytics.tools.lookup_customer",
    "analytics.tools.analyze_segments",
    "analytics.tools.segment_info",
    "analytics.tools.analyze_products",
    "analytics.tools.forecast_metrics",
    "analytics.tools.target_campaign",
    "analytics.tools.analyze_behavior",
    "analytics.tools.get_recommendations",
    "analytics.tools.store_metrics",
    "analytics.tools.prediction_quality",
)
