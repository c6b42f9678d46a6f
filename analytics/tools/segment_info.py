"""segment_info: a card for one archetype or segment (members, value, churn, traits, typical
products); with no name, cards for the largest archetypes."""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from analytics.core import ARCHETYPE_HELP, RunInfo, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, require_current_run
from analytics.privacy import is_small_group, min_group_size
from analytics.resolve import resolve_archetype, resolve_segment
from analytics.tools.analyze_segments import SegmentDetail, _total_customers, detail
from analytics.tools.common import cached, money, num, pct, read_cursor
from analytics.tools.registry import tool
from sql import query

class SegmentInfoInput(ToolInput):
    """An archetype or segment card; with no name, the largest archetypes."""

    name: str | None = Field(None, max_length=80, description=ARCHETYPE_HELP + " Or " + SEGMENT_HELP)


LARGEST = 5
PRODUCTS_PER_CARD = 5
# Typical products are read from a fixed sample of members per group: enough for buyer shares
# within a few points, and a card costs the same whatever the group's size.
SAMPLE_ONE_GROUP = 300
SAMPLE_PER_GROUP_IN_LIST = 100


class TypicalProduct(BaseModel):
    sku: str
    title: str | None
    category: str | None
    buyers: int
    buyer_share: float | None = Field(None, description="Share of the (sampled) members who bought it")
    revenue: float = Field(description="Revenue from the sampled members")
    sampled_members: int | None = Field(None, description="Members read; less than the group when sampled")


class ArchetypeCard(BaseModel):
    archetype_id: str
    name: str
    description: str
    traits: dict[str, str] = Field(default_factory=dict, description="axis -> segment that defines it")
    members: int
    share: float
    withheld: bool = False
    average_value: float | None = None
    total_value: float | None = None
    average_orders: float | None = None
    average_order_value: float | None = None
    average_churn: float | None = None
    customers_at_risk: int | None = None
    predicted_value_12m: float | None = None
    typical_products: list[TypicalProduct] = Field(default_factory=list)


class SegmentInfoResult(ToolResult):
    kind: Literal["archetype", "segment", "largest_archetypes"]
    run_id: int
    archetypes: list[ArchetypeCard] = Field(default_factory=list)
    segment: SegmentDetail | None = None
    segment_products: list[TypicalProduct] = Field(default_factory=list)


def typical_products(ctx: ToolContext, run: RunInfo, *, archetype_ids: list[str] | None = None,
                     axis: str | None = None, segment: str | None = None) -> dict[str, list[dict]]:
    """group -> rows (sku, title, category, buyers, revenue, sampled) of its most bought products.
    Cached per run and group: every lookup of a customer of the same archetype reuses it."""
    sample = SAMPLE_PER_GROUP_IN_LIST if archetype_ids and len(archetype_ids) > 1 else SAMPLE_ONE_GROUP

    def load() -> dict[str, list[dict]]:
        with read_cursor(ctx) as cur:
            cur.execute(query("segments.typical_products"), {
                "run_id": run.run_id, "as_of": run.as_of, "archetype_ids": archetype_ids or [], "axis": axis,
                "segment": segment, "min_buyers": min_group_size(ctx), "per_group": PRODUCTS_PER_CARD,
                "sample_size": sample})
            found: dict[str, list[dict]] = {}
            for r in cur.fetchall():
                found.setdefault(r["grp"], []).append(
                    {**dict(r), "revenue": float(r["revenue"])})   # JSON-safe for the Redis cache
        return found

    if ctx.cache is None:
        return load()
    key = (f"run{run.run_id}:typical-products:{sample}:{min_group_size(ctx)}:"
           f"{','.join(sorted(archetype_ids or []))}:{axis}:{segment}")
    return ctx.cache.get_or_compute(key, None, load)


def archetype_cards(ctx: ToolContext, run: RunInfo, archetype_id: str | None) -> list[ArchetypeCard]:
    with read_cursor(ctx) as cur:
        cur.execute(query("segments.archetype_cards"),
                    {"run_id": run.run_id, "archetype_id": archetype_id, "limit": 1 if archetype_id else LARGEST})
        rows = cur.fetchall()
    products = typical_products(ctx, run, archetype_ids=[r["archetype_id"] for r in rows])
    cards = []
    for r in rows:
        card = ArchetypeCard(archetype_id=r["archetype_id"], name=r["name"], description=r["description"],
                             traits={k: str(v) for k, v in (r["signature"] or {}).items()},
                             members=r["members"], share=r["share"])
        if is_small_group(ctx, r["members"]):
            card.withheld = True
        else:
            card = card.model_copy(update=dict(
                average_value=num(r["average_value"]), total_value=num(r["total_value"]), average_orders=r["avg_orders"],
                average_order_value=num(r["average_order_value"]), average_churn=r["average_churn"],
                customers_at_risk=r["customers_at_risk"], predicted_value_12m=num(r["predicted_value_12m"]),
                typical_products=[TypicalProduct(sku=p["sku"], title=p["title"], category=p["category"],
                                                 buyers=p["buyers"], buyer_share=p["buyers"] / p["sampled"],
                                                 revenue=float(p["revenue"]), sampled_members=p["sampled"])
                                  for p in products.get(r["archetype_id"], [])]))
        cards.append(card)
    return cards


def _describe_card(card: ArchetypeCard) -> str:
    text = f"{card.name} ({card.archetype_id}): {card.members:,} customers ({pct(card.share)}), {card.description}"
    if card.withheld:
        return text + "; too few members to break down further"
    text += f"; average value {money(card.average_value)}, average churn {pct(card.average_churn)}"
    if card.typical_products:
        text += "; typically buys " + ", ".join(p.title or p.sku for p in card.typical_products[:3])
    return text


def _resolve(ctx: ToolContext, name: str, run_id: int) -> tuple[str, object]:
    """('archetype', id) or ('segment', (axis, name)); segments first when written 'axis:name'."""
    if ":" in name:
        return "segment", resolve_segment(ctx, name, run_id)
    try:
        return "archetype", resolve_archetype(ctx, name, run_id)
    except ToolError as archetype_error:
        try:
            return "segment", resolve_segment(ctx, name, run_id)
        except ToolError as segment_error:
            raise ToolError(f"No archetype or segment matches {name!r}. {archetype_error} {segment_error}") from None


@tool("segment_info",
          "A card describing one archetype (a customer type combining segments, e.g. 'A-1f3c9e' or its name) "
          "or one behavioural segment ('axis:name'): members, share, value, churn, defining traits and typical "
          "products. With no name, cards for the largest archetypes. Use for 'what are my customer types?', "
          "'tell me about the deal seekers'.",
      title="Segment / archetype", warm=({},))
def segment_info(ctx: ToolContext, params: SegmentInfoInput) -> SegmentInfoResult:
    run = require_current_run(ctx)
    kind, target = ("largest_archetypes", None) if not params.name else _resolve(ctx, params.name, run.run_id)

    def compute() -> SegmentInfoResult:
        if kind in ("archetype", "largest_archetypes"):
            cards = archetype_cards(ctx, run, target if kind == "archetype" else None)
            if not cards:
                raise ToolError("The current discovery run has no archetypes.")
            if kind == "archetype":
                summary = _describe_card(cards[0]) + "."
            else:
                summary = (f"The {len(cards)} largest customer archetypes: "
                           + "; ".join(f"{c.name} ({c.members:,}, {pct(c.share)})" for c in cards) + ".")
            return SegmentInfoResult(tool="segment_info", summary=summary, kind=kind, run_id=run.run_id,
                                     archetypes=cards)
        axis, name = target
        d = detail(ctx, run.run_id, axis, name, _total_customers(ctx, run.run_id))
        products = [] if d.withheld else [
            TypicalProduct(sku=p["sku"], title=p["title"], category=p["category"], buyers=p["buyers"],
                           buyer_share=p["buyers"] / p["sampled"], revenue=float(p["revenue"]),
                           sampled_members=p["sampled"])
            for p in typical_products(ctx, run, axis=axis, segment=name).get(f"{axis}:{name}", [])]
        summary = (f"{axis}:{name} — {d.interpretation or 'no description'}: {d.members:,} customers ({pct(d.share)})"
                   + ("; too few to break down further." if d.withheld else
                      f", average value {money(d.average_value)}, average churn {pct(d.average_churn)}"
                      + (("; typically buys " + ", ".join(p.title or p.sku for p in products[:3])) if products else "")
                      + "."))
        return SegmentInfoResult(tool="segment_info", summary=summary, kind="segment", run_id=run.run_id,
                                 segment=d, segment_products=products)

    return cached(ctx, "segment_info", run.run_id, f"{kind}:{target}", compute, SegmentInfoResult)
