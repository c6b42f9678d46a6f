"""Imports every tool module so each registers itself. Adding a tool = a module + a line here."""
from importlib import import_module

TOOL_MODULES = (
    "lookup_customer", "analyze_customers", "analyze_segments", "segment_info", "analyze_products",
    "forecast_metrics", "target_campaign", "analyze_behavior", "get_recommendations",
)

for _module in TOOL_MODULES:
    try:
        import_module(f"analytics.tools.{_module}")
    except ModuleNotFoundError as exc:
        # While the tools are being written in parallel, a missing module is skipped.
        # (Integration replaces this with plain imports once all nine exist.)
        if exc.name != f"analytics.tools.{_module}":
            raise
