"""target_campaign: choose customers for a retention, win-back, upsell, VIP or seasonal campaign,
explain why, estimate the value, and write the list (with real ids and emails) to a CSV export for
the store's marketing tool. The export is never shown in chat: the result carries only its path."""
from __future__ import annotations

from typing import Literal
import csv
import os
from datetime import datetime, timezone
from pathlib import Path

from pydantic import BaseModel, Field

from analytics.core import ARCHETYPE_HELP, RunInfo, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, require_current_run
from analytics.enrichment import compensation_tier
from analytics.items import Item, resolve_item
from analytics.tools.common import archetype_filter, cached, money, num, pct, read_cursor, segment_filter
from analytics.tools.registry import tool
from sql import query
from sql.safe_files import private_dir, safe_row

class TargetCampaignInput(ToolInput):
    """Pick customers for a campaign, with reasons, expected value and a CSV export."""

    campaign: Literal["retention", "win_back", "upsell", "vip", "seasonal", "product"] = Field(
        ..., description="retention: active but at risk; win_back: lapsed; upsell: growing or low-basket "
        "loyal buyers; vip: the most valuable; seasonal: holiday/seasonal buyers before their season; product: "
        "a sale or launch of `bought` (customers who buy it or what usually goes with it)."
    )
    bought: str | None = Field(None, max_length=120, description="For campaign=product: the product (SKU or title "
                               "words) or category on sale, e.g. 'batting'.")
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    archetype: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP)
    min_value: float | None = Field(None, ge=0, description="Minimum lifetime revenue.")
    limit: int = Field(100, ge=1, le=5000, description="Maximum customers to select.")


PREVIEW_ROWS = 25

# Who qualifies and why, in the words the result shows. The response rates are planning
# assumptions (typical e-mail campaign rates), stated in the answer, not measured on this store.
CAMPAIGNS = {
    "retention": ("repeat buyers (2+ orders) at risk (overdue against their own rhythm, or their chance of "
                  "staying falling), ranked by value at stake (churn probability × lifetime value)", 0.15),
    "win_back": ("lapsed customers (gone quiet far beyond their own rhythm), most valuable first", 0.05),
    "upsell": ("loyal repeat buyers (low churn risk) whose average order is at or below the store median, "
               "ranked by expected purchases in the next 90 days", 0.10),
    "vip": ("whale and VIP tier customers not yet lost, most valuable first", 0.20),
    "seasonal": ("customers who bought in the coming two calendar months in an earlier year, not yet lost, "
                 "most valuable first", 0.10),
    "product": ("customers who buy it or what usually goes with it, not lapsed, ranked by affinity (share of "
                "their spend on it; companions at half weight) × lifetime value × chance of ordering again", 0.10),
}
MIN_COMPANION_ORDERS = 5
EXPORT_COLUMNS = ("store_customer_id", "public_id", "email", "name", "value_tier", "orders", "lifetime_value",
                  "churn_probability", "risk_level", "discount_percent", "reason")


class CampaignRow(BaseModel):
    public_id: str
    value_tier: str | None
    orders: int
    lifetime_value: float
    average_order_value: float | None
    days_since_last_order: int | None
    churn_probability: float | None
    risk_level: str | None
    predicted_value_12m: float | None
    discount_percent: float
    reason: str


class TargetCampaignResult(ToolResult):
    campaign: str
    criteria: str
    filters: dict[str, str | float] = Field(default_factory=dict)
    eligible: int = Field(description="Customers who qualify before the limit")
    selected: int
    selected_lifetime_value: float
    assumed_response_rate: float
    expected_value: float = Field(description="Assumed responders × one order at their average order value")
    discount_tiers: dict[str, int] = Field(default_factory=dict, description="discount % -> selected customers")
    rows: list[CampaignRow] = Field(description=f"The first {PREVIEW_ROWS} selected customers")
    export_path: str | None = Field(None, description="CSV with real ids and emails for the marketing tool")
    companions: list[str] = Field(default_factory=list, description="For a product campaign: categories bought "
                                  "with it more often than chance (lift > 1)")


class _Selection(BaseModel):
    """What is cached per run and arguments: the chat result, plus the internal ids and export
    fields of every selected customer (no names or emails: those are read when the file is written)."""

    result: TargetCampaignResult
    customer_ids: list[int]
    export_fields: list[dict]


EXPORTED_NOTE = " The list is exported for the marketing tool."

# The files hold emails: kept long enough to be picked up, not forever.
EXPORT_RETENTION_SECONDS = 7 * 24 * 3600


def write_export(settings, campaign: str, run_id: int, rows: list[dict]) -> Path:
    """The selection as CSV under DATA_DIR/exports (created owner-only: it holds emails). Exports
    older than a week are removed whenever a new one is written."""
    folder = Path(settings.data_dir) / "exports"
    private_dir(folder)
    prune_exports(folder)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    path = folder / f"campaign-{campaign}-run{run_id}-{stamp}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(EXPORT_COLUMNS)
        writer.writerows(safe_row(r[c] for c in EXPORT_COLUMNS) for r in rows)
    return path


def prune_exports(folder: Path, max_age_seconds: float = EXPORT_RETENTION_SECONDS) -> int:
    """Delete campaign exports older than `max_age_seconds`; returns how many went."""
    cutoff = datetime.now(timezone.utc).timestamp() - max_age_seconds
    removed = 0
    for old_file in folder.glob("campaign-*.csv"):
        try:
            if old_file.stat().st_mtime < cutoff:
                old_file.unlink()
                removed += 1
        except FileNotFoundError:  # another process pruned it first
            continue
    return removed


def select_customers(ctx: ToolContext, run: RunInfo, campaign: str, *, axis: str | None = None,
                     segment: str | None = None, archetype_id: str | None = None, min_value: float | None = None,
                     limit: int = 100, item: Item | None = None, companions: list[str] | None = None) -> list[dict]:
    """The ranked selection for a campaign. Every row carries `eligible_count` and `eligible_value`:
    totals over everyone who qualifies, before the limit."""
    return [r for r in _select(ctx, run, [campaign], axis, segment, archetype_id, min_value, limit, item, companions)
            if r["customer_id"] is not None]


def companion_categories(ctx: ToolContext, item: Item) -> list[str]:
    """Categories bought with `item` more often than chance (lift > 1), its own category left out."""
    with read_cursor(ctx) as cur:
        cur.execute(query("campaigns.companions"), {
            "product_ids": list(item.product_ids), "min_orders": MIN_COMPANION_ORDERS,
            "exclude": [item.name] if item.kind == "category" else []})
        return [r["category"] for r in cur.fetchall() if r["lift"] is not None and r["lift"] > 1.0]


def campaign_totals(ctx: ToolContext, run: RunInfo, campaigns: list[str], *, axis: str | None = None,
                    segment: str | None = None, archetype_id: str | None = None) -> dict[str, tuple[int, float]]:
    """campaign -> (eligible customers, their lifetime value), for several campaigns in one scan."""
    rows = _select(ctx, run, campaigns, axis, segment, archetype_id, None, 0)
    return {r["campaign"]: (r["eligible_count"], float(r["eligible_value"])) for r in rows}


def _select(ctx, run, campaigns, axis, segment, archetype_id, min_value, limit, item=None, companions=None) -> list[dict]:
    with read_cursor(ctx) as cur:
        cur.execute(query("campaigns.select"), {
            "run_id": run.run_id, "as_of": run.as_of, "campaigns": campaigns, "axis": axis, "segment": segment,
            "archetype_id": archetype_id, "min_value": min_value, "limit": limit,
            "product_ids": list(item.product_ids) if item else [], "companions": companions or []})
        return [dict(r) for r in cur.fetchall()]


@tool("target_campaign",
          "Pick customers for a marketing campaign — retention (active but at risk), win_back (lapsed), "
          "upsell (loyal, small baskets), vip (most valuable) or seasonal (bought this time of year before) — "
          "with the selection criteria, each customer's reason, the discount tier, the expected value, and a "
          "CSV export for the marketing tool. Optional segment/archetype/minimum value filters.",
      title="Campaign", exportable=True)
def target_campaign(ctx: ToolContext, params: TargetCampaignInput) -> TargetCampaignResult:
    run = require_current_run(ctx)
    axis, segment = segment_filter(ctx, params.segment, run.run_id)
    archetype_id = archetype_filter(ctx, params.archetype, run.run_id)

    item = None
    if params.campaign == "product":
        if not params.bought:
            raise ToolError("A product campaign needs the product or category on sale (bought=..., e.g. 'batting').")
        item = resolve_item(ctx, params.bought)

    def compute() -> _Selection:
        companions = companion_categories(ctx, item) if item is not None else None
        rows = select_customers(ctx, run, params.campaign, axis=axis, segment=segment, archetype_id=archetype_id,
                                min_value=params.min_value, limit=params.limit, item=item, companions=companions)
        return _selection(ctx, params, rows, axis, segment, archetype_id, item, companions)

    selection = cached(ctx, "target_campaign", run.run_id, params, compute, _Selection)
    if not selection.customer_ids or not ctx.writes_exports:
        return selection.result
    # The file is written on every call (a fresh export each time); contacts are read only for it.
    with read_cursor(ctx) as cur:
        cur.execute(query("campaigns.contacts"), {"customer_ids": selection.customer_ids})
        contacts = {r["customer_id"]: r for r in cur.fetchall()}
    export_rows = [{**fields, **{k: contacts[cid][k] for k in ("store_customer_id", "email", "name")}}
                   for cid, fields in zip(selection.customer_ids, selection.export_fields)]
    try:
        export = write_export(ctx.settings, params.campaign, run.run_id, export_rows)
    except OSError as exc:
        raise ToolError(f"The campaign list could not be written to {Path(ctx.settings.data_dir) / 'exports'}: "
                        f"{exc.strerror or exc}. Check that DATA_DIR is writable.") from None
    return selection.result.model_copy(update={"export_path": str(export),
                                                "summary": selection.result.summary + EXPORTED_NOTE})


def _selection(ctx: ToolContext, params: TargetCampaignInput, rows: list[dict], axis: str | None,
               segment: str | None, archetype_id: str | None, item: Item | None = None,
               companions: list[str] | None = None) -> _Selection:
    for r in rows:
        r["discount_percent"] = compensation_tier(ctx.settings, float(r["revenue"])).percent
        r["lifetime_value"] = float(r["revenue"])
    criteria, response_rate = CAMPAIGNS[params.campaign]
    eligible = rows[0]["eligible_count"] if rows else 0
    selected_value = sum(r["lifetime_value"] for r in rows)
    expected_value = response_rate * sum(float(r["avg_order_value"] or 0) for r in rows)
    tiers: dict[str, int] = {}
    for r in rows:
        key = f"{r['discount_percent']:g}"
        tiers[key] = tiers.get(key, 0) + 1
    filters: dict[str, str | float] = {}
    if axis:
        filters["segment"] = f"{axis}:{segment}"
    if archetype_id:
        filters["archetype"] = archetype_id
    if params.min_value is not None:
        filters["min_value"] = params.min_value
    if item is not None:
        filters["product"] = item.described
        criteria += ("; goes with it (bought together more often than chance): " + ", ".join(companions[:5])
                     if companions else "; nothing is bought with it more often than chance, so its own buyers only")
    name = params.campaign.replace("_", "-") if item is None else f"{item.name} sale"
    if rows:
        summary = (f"{name} campaign: {len(rows):,} of {eligible:,} eligible customers selected ({criteria}); "
                   f"lifetime value {money(selected_value)}. If {pct(response_rate)} respond with one order at "
                   f"their average order value, expect about {money(expected_value)}.")
    else:
        summary = f"No customers qualify for a {name} campaign ({criteria})" + (
            " with these filters." if filters else ".")
    result = TargetCampaignResult(
        tool="target_campaign", summary=summary, campaign=params.campaign, criteria=criteria, filters=filters,
        eligible=eligible, selected=len(rows), selected_lifetime_value=round(selected_value, 2),
        assumed_response_rate=response_rate, expected_value=round(expected_value, 2), discount_tiers=tiers,
        companions=list(companions or []),
        rows=[CampaignRow(public_id=r["public_id"], value_tier=r["value_tier"], orders=r["orders"],
                          lifetime_value=r["lifetime_value"], average_order_value=num(r["avg_order_value"]),
                          days_since_last_order=r["recency_days"], churn_probability=r["churn_probability"],
                          risk_level=r["risk_level"], predicted_value_12m=num(r["predicted_clv_12m"]),
                          discount_percent=r["discount_percent"], reason=r["reason"]) for r in rows[:PREVIEW_ROWS]])
    export_fields = [{k: r[k] for k in EXPORT_COLUMNS if k not in ("store_customer_id", "email", "name")}
                     for r in rows]
    return _Selection(result=result, customer_ids=[r["customer_id"] for r in rows], export_fields=export_fields)
