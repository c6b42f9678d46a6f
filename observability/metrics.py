"""The process's Prometheus metrics, with prometheus_client in a registry of its own (never the
library's global one, so tests and several apps in one process do not collide). Every package
records into these objects; the web app renders `REGISTRY` plus its per-app collectors at /metrics.
Imports nothing of the project: analytics, discovery, bot and gorgias may all use it."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

# Seconds: Slack wants an ack within 3 s; answers and tools take from milliseconds to tens of seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def _counter(name: str, text: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, text, labels, registry=REGISTRY)


def _histogram(name: str, text: str, labels: tuple[str, ...] = ()) -> Histogram:
    return Histogram(name, text, labels, buckets=LATENCY_BUCKETS, registry=REGISTRY)


# --- HTTP (wiring.web) ------------------------------------------------------------------------------
HTTP_REQUESTS = _counter("cib_http_requests", "HTTP requests by route path ('other' for unknown paths) and status",
                         ("path", "status"))
HTTP_SECONDS = _histogram("cib_http_request_seconds", "HTTP request latency by route path", ("path",))

# --- Slack (bot) ------------------------------------------------------------------------------------
SLACK_REQUESTS = _counter("cib_slack_requests", "Slack requests by kind (event_callback, slash_command, "
                          "block_actions, ...) and type (event type, command or action kind)", ("kind", "type"))
SLACK_HANDLED = _counter("cib_slack_handled", "Slack events and commands handled, by listener (event type or "
                         "command) and outcome (answered, partly_delivered, retry_later, rate_limited, error)",
                         ("listener", "outcome"))
SLACK_ANSWERS = _counter("cib_slack_answers", "Answers posted by source (claude, offline, command)", ("source",))
SLACK_ACK_SECONDS = _histogram("cib_slack_ack_seconds", "Server time to acknowledge a Slack request, by listener",
                               ("listener",))
SLACK_LISTENER_SECONDS = _histogram("cib_slack_listener_seconds",
                                    "Time from receipt to the answer posted, by listener", ("listener",))
SLACK_DUPLICATE_EVENTS = _counter("cib_slack_duplicate_events", "Retried events skipped because already handled")
SLACK_FALLBACKS = _counter("cib_slack_fallbacks", "Messages re-sent without new blocks after invalid_blocks")
SLACK_ALERTS = _counter("cib_slack_alerts", "Alerts by kind and outcome (recorded: new, once across instances; "
                        "posted, failed: given back for the next hour, expired: held too long) per channel delivery",
                        ("kind", "outcome"))
SLACK_QUESTION_RETRIES = _counter("cib_slack_question_retries", "Pending questions taken again by the retry sweep")

# --- answering (analytics) --------------------------------------------------------------------------
TOOL_CALLS = _counter("cib_tool_calls", "Tool calls by tool and outcome (ok, invalid_arguments, error)",
                      ("tool", "outcome"))
TOOL_SECONDS = _histogram("cib_tool_call_seconds", "Tool run time by tool (validation included)", ("tool",))
ROUTER_ANSWERS = _counter("cib_router_answers", "Router results by path (claude, offline, fallback: offline "
                          "because Claude failed) and outcome (answer, route, refusal, clarification, error)",
                          ("path", "outcome"))
CLAUDE_TOKENS = _counter("cib_claude_tokens", "Claude tokens by kind (input, output, cache_creation, cache_read)",
                         ("kind",))
CACHE_LOOKUPS = _counter("cib_cache_lookups", "Answer cache lookups by result (hit, miss) and backend (memory, redis)",
                         ("result", "backend"))

# --- data in (discovery) ----------------------------------------------------------------------------
IMPORT_ROWS = _counter("cib_import_rows", "Imported file rows by class (sale, return, adjustment, ignored, "
                       "rejected, without_customer) over the imports this process ran", ("class",))

# --- Shopify ----------------------------------------------------------------------------------------
SHOPIFY_WEBHOOKS = _counter("cib_shopify_webhooks", "Shopify webhook deliveries by outcome (stored, duplicate, "
                            "ignored, unauthorized, invalid, too_large, unavailable, not_configured)", ("outcome",))
SHOPIFY_APPLIED = _counter("cib_shopify_webhooks_applied", "Stored Shopify webhook deliveries applied, by outcome "
                           "(applied, failed: kept with its error and retried)", ("outcome",))
SHOPIFY_SYNC_ORDERS = _counter("cib_shopify_sync_orders", "Orders the Shopify sync fetched, by outcome (inserted, "
                               "updated, returns, unchanged, skipped)", ("outcome",))

# --- Gorgias ----------------------------------------------------------------------------------------
GORGIAS_WEBHOOKS = _counter("cib_gorgias_webhooks", "Gorgias webhook deliveries by outcome (queued, duplicate, "
                            "unauthorized, invalid, too_large, unavailable, not_configured, rate_limited)",
                            ("outcome",))
GORGIAS_INTAKE_SECONDS = _histogram("cib_gorgias_intake_seconds", "Time to store a Gorgias webhook delivery")
GORGIAS_NOTES = _counter("cib_gorgias_notes", "Gorgias events worked, by outcome (posted, skipped, failed: retried "
                         "or parked, released: another worker took it)", ("outcome",))

# --- limits (analytics.limits, used by bot, gorgias and mcp_server) ---------------------------------
RATE_LIMITED = _counter("cib_rate_limited", "Requests refused by a rate limit, by limit (slack_user, slack_channel, "
                        "gorgias_webhook, mcp)", ("limit",))
