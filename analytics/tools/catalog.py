"""Imports every tool module so each registers itself. Adding a tool = a module + a line here."""
from analytics.tools import (  # noqa: F401
    analyze_behavior,
    analyze_customers,
    analyze_products,
    analyze_segments,
    forecast_metrics,
    get_recommendations,
    lookup_customer,
    segment_info,
    target_campaign,
)
