"""analyze_segments: the behavioural segments of the current run — overview of every axis, one
segment in depth, two side by side, or how segment sizes changed since an earlier run."""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from analytics.core import Axis, RunInfo, SEGMENT_HELP, ToolContext, ToolError, ToolInput, ToolResult, previous_run, require_current_run, run_days_ago
from analytics.privacy import SMALL_GROUP_LABEL, fold_small_groups, is_small_group, min_group_size
from analytics.resolve import resolve_segment
from analytics.tools.common import cached, money, num, pct, read_cursor
from analytics.tools.registry import MenuEntry, tool
from sql import query


class AnalyzeSegmentsInput(ToolInput):
    """Behavioural segments: overview, one in depth, two compared, or change between runs."""

    mode: Literal["overview", "detail", "compare", "changes"] = Field(
        "overview", description="overview of all axes; detail of one segment; compare two segments; "
        "changes in segment sizes since an earlier run."
    )
    axis: Axis | None = Field(None, description="Restrict the overview to one behavioural axis.")
    segment: str | None = Field(None, max_length=80, description=SEGMENT_HELP)
    other_segment: str | None = Field(None, max_length=80, description="The second segment for mode=compare.")
    days_ago: Literal[7, 14, 28] = Field(7, description="For mode=changes: compare with the run this many days ago.")


class SegmentStats(BaseModel):
    axis: str
    name: str
    interpretation: str | None = None
    members: int
    share: float | None = None
    lifetime_value: float | None = None
    average_value: float | None = None
    average_churn: float | None = None
    customers_at_risk: int | None = None


class AxisOverview(BaseModel):
    axis: str
    k: int | None = None
    silhouette: float | None = None
    is_weak: bool = False
    note: str | None = None
    segments: list[SegmentStats]


class ArchetypeShare(BaseModel):
    archetype_id: str
    name: str | None
    members: int


class SegmentDetail(BaseModel):
    axis: str
    name: str
    interpretation: str | None = None
    centroid: dict[str, Any] = Field(default_factory=dict)
    members: int
    share: float | None = None
    withheld: bool = Field(False, description="True: fewer members than the privacy minimum, no breakdown")
    lifetime_value: float | None = None
    average_value: float | None = None
    average_orders: float | None = None
    average_order_value: float | None = None
    average_churn: float | None = None
    average_days_since_last_order: float | None = None
    predicted_value_12m: float | None = None
    customers_at_risk: int | None = None
    value_at_risk: float | None = None
    strong_share: float | None = Field(None, description="Share of members who belong strongly to the segment")
    risk_levels: dict[str, int] = Field(default_factory=dict)
    value_tiers: dict[str, int] = Field(default_factory=dict)
    top_archetypes: list[ArchetypeShare] = Field(default_factory=list)


class SegmentChange(BaseModel):
    axis: str
    name: str
    members_now: int
    members_before: int
    change: int
    change_pct: float | None = None


class AnalyzeSegmentsResult(ToolResult):
    mode: str
    run_id: int
    as_of: datetime
    total_customers: int
    axes: list[AxisOverview] = Field(default_factory=list)
    detail: SegmentDetail | None = None
    compared: list[SegmentDetail] = Field(default_factory=list)
    differences: dict[str, float] = Field(default_factory=dict)
    changes: list[SegmentChange] = Field(default_factory=list)
    compared_run_id: int | None = None
    compared_as_of: datetime | None = None
    note: str | None = None


def _total_customers(ctx: ToolContext, run_id: int) -> int:
    with read_cursor(ctx) as cur:
        cur.execute(query("segments.run_customers"), {"run_id": run_id})
        return cur.fetchone()["customers"]


def overview(ctx: ToolContext, run: RunInfo, axis: str | None, total: int) -> list[AxisOverview]:
    with read_cursor(ctx) as cur:
        cur.execute(query("segments.overview"), {"run_id": run.run_id, "axis": axis})
        rows = cur.fetchall()
    axes: dict[str, dict] = {}
    for r in rows:
        entry = axes.setdefault(r["axis"], {"info": r, "rows": []})
        entry["rows"].append({
            "axis": r["axis"], "name": r["name"], "interpretation": r["interpretation"], "members": r["members"],
            "share": r["members"] / total if total else None, "lifetime_value": round(float(r["lifetime_value"]), 2),
            "average_value": num(r["average_value"]), "average_churn": r["average_churn"],
            "customers_at_risk": r["customers_at_risk"]})
    result = []
    for name, entry in axes.items():
        info = entry["info"]
        rows_ = [r for r in entry["rows"] if r["members"] > 0]
        folded = fold_small_groups(ctx, rows_, count_key="members", label_key="name",
                                   sum_keys=("lifetime_value", "customers_at_risk"),
                                   blank_keys=("interpretation", "average_value", "average_churn", "share"))
        for row in folded:
            if row["name"] == SMALL_GROUP_LABEL:
                row["axis"] = name
                row["share"] = row["members"] / total if total else None
        result.append(AxisOverview(axis=name, k=info["k"], silhouette=info["silhouette"],
                                   is_weak=bool(info["is_weak"]), note=info["note"],
                                   segments=[SegmentStats(**row) for row in folded]))
    return result


def detail(ctx: ToolContext, run_id: int, axis: str, name: str, total: int) -> SegmentDetail:
    with read_cursor(ctx) as cur:
        cur.execute(query("segments.detail"), {"run_id": run_id, "axis": axis, "name": name})
        r = cur.fetchone()
        if r is None:
            raise ToolError(f"Segment {axis}:{name} is not in the current run.")
        members = r["members"]
        base = SegmentDetail(axis=axis, name=name, interpretation=r["interpretation"], members=members,
                             share=members / total if total else None)
        if is_small_group(ctx, members) or members == 0:
            base.withheld = members > 0
            return base
        cur.execute(query("segments.detail_archetypes"), {"run_id": run_id, "axis": axis, "name": name})
        archetypes = [ArchetypeShare(**a) for a in cur.fetchall() if not is_small_group(ctx, a["members"])]
    return base.model_copy(update=dict(
        centroid=r["centroid"] or {}, lifetime_value=round(float(r["lifetime_value"]), 2),
        average_value=num(r["average_value"]), average_orders=num(r["average_orders"]),
        average_order_value=num(r["average_order_value"]), average_churn=r["average_churn"],
        average_days_since_last_order=num(r["average_days_since_last_order"]),
        predicted_value_12m=round(float(r["predicted_value_12m"]), 2), customers_at_risk=r["customers_at_risk"],
        value_at_risk=round(float(r["value_at_risk"]), 2), strong_share=num(r["strong_share"]),
        risk_levels={k: v for k, v in r["risk_levels"].items()},
        value_tiers={k: v for k, v in r["value_tiers"].items()}, top_archetypes=archetypes))


def _describe_detail(d: SegmentDetail) -> str:
    text = f"{d.axis}:{d.name} ({d.interpretation or 'no description'}) has {d.members:,} customers ({pct(d.share)})"
    if d.withheld:
        return text + "; fewer than the privacy minimum, so no further breakdown"
    return (text + f", lifetime value {money(d.lifetime_value)} (average {money(d.average_value)}), "
            f"average churn probability {pct(d.average_churn)}, {d.customers_at_risk:,} at high or critical risk")


def changes(ctx: ToolContext, run: RunInfo, axis: str | None, days_ago: int) -> tuple[RunInfo, list[SegmentChange], str | None]:
    note = None
    old = run_days_ago(ctx, days_ago)
    if old is None:
        old = previous_run(ctx)
        if old is None:
            raise ToolError("There is only one discovery run so far: segment changes need an earlier run. "
                            "Discovery runs on its schedule; ask again after the next run.")
        note = (f"No run is {days_ago} days older than the current one; comparing with the run of "
                f"{old.as_of:%Y-%m-%d} instead.")
    with read_cursor(ctx) as cur:
        cur.execute(query("segments.changes"), {"run_id": run.run_id, "old_run_id": old.run_id, "axis": axis})
        rows = [dict(r) for r in cur.fetchall()]
    # A segment small in both runs is folded: its size history would describe a handful of people.
    minimum = min_group_size(ctx)
    kept = [r for r in rows if max(r["members_now"], r["members_before"]) >= minimum]
    small = [r for r in rows if max(r["members_now"], r["members_before"]) < minimum]
    for axis_name in dict.fromkeys(r["axis"] for r in small):
        group = [r for r in small if r["axis"] == axis_name]
        kept.append({"axis": axis_name, "name": SMALL_GROUP_LABEL,
                     "members_now": sum(r["members_now"] for r in group),
                     "members_before": sum(r["members_before"] for r in group)})
    result = [SegmentChange(axis=r["axis"], name=r["name"], members_now=r["members_now"],
                            members_before=r["members_before"], change=r["members_now"] - r["members_before"],
                            change_pct=((r["members_now"] - r["members_before"]) / r["members_before"])
                            if r["members_before"] else None) for r in kept]
    result.sort(key=lambda c: (c.axis, -abs(c.change), c.name))
    return old, result, note


@tool("analyze_segments",
          "Behavioural segments on eight axes (frequency, value, exploration, price_sensitivity, cadence, "
          "maturity, repurchase, returns): mode=overview lists every segment with size, value and churn; "
          "mode=detail describes one segment in depth; mode=compare puts two side by side; mode=changes "
          "shows how segment sizes grew or shrank since the run 7, 14 or 28 days ago.",
      title="Segments", exportable=True,
      menu=(MenuEntry("segments overview", {"mode": "overview"}),), warm=({"mode": "overview"},))
def analyze_segments(ctx: ToolContext, params: AnalyzeSegmentsInput) -> AnalyzeSegmentsResult:
    run = require_current_run(ctx)
    first = second = None
    if params.mode in ("detail", "compare"):
        if not params.segment:
            raise ToolError(f"mode={params.mode} needs a segment, e.g. 'frequency:frequent'.")
        first = resolve_segment(ctx, params.segment, run.run_id)
    if params.mode == "compare":
        if not params.other_segment:
            raise ToolError("mode=compare needs other_segment: the second segment to compare with.")
        second = resolve_segment(ctx, params.other_segment, run.run_id)
        if second == first:
            raise ToolError(f"Both segments are {first[0]}:{first[1]}; name two different segments to compare.")

    def compute() -> AnalyzeSegmentsResult:
        total = _total_customers(ctx, run.run_id)
        base = dict(tool="analyze_segments", mode=params.mode, run_id=run.run_id, as_of=run.as_of,
                    total_customers=total)
        if params.mode == "overview":
            axes = overview(ctx, run, params.axis, total)
            largest = [max(a.segments, key=lambda s: s.members) for a in axes if a.segments]
            summary = (f"{total:,} customers in {sum(len(a.segments) for a in axes)} segments on {len(axes)} axes. "
                       + " ".join(f"{s.axis}: largest is {s.name} ({s.members:,}, {pct(s.share)})." for s in largest))
            weak = [a.axis for a in axes if a.is_weak]
            if weak:
                summary += f" Weakly separated axes: {', '.join(weak)}."
            return AnalyzeSegmentsResult(summary=summary, axes=axes, **base)
        if params.mode == "detail":
            d = detail(ctx, run.run_id, *first, total)
            return AnalyzeSegmentsResult(summary=_describe_detail(d) + ".", detail=d, **base)
        if params.mode == "compare":
            a, b = detail(ctx, run.run_id, *first, total), detail(ctx, run.run_id, *second, total)
            differences = {}
            if not (a.withheld or b.withheld):
                for field in ("average_value", "average_orders", "average_order_value", "average_churn",
                              "average_days_since_last_order"):
                    x, y = getattr(a, field), getattr(b, field)
                    if x is not None and y is not None:
                        differences[field] = round(x - y, 4)
            summary = _describe_detail(a) + ". " + _describe_detail(b) + "."
            return AnalyzeSegmentsResult(summary=summary, compared=[a, b], differences=differences, **base)
        old, moves, note = changes(ctx, run, params.axis, params.days_ago)
        grew = [c for c in moves if c.change > 0]
        shrank = [c for c in moves if c.change < 0]
        summary = f"Compared with the run of {old.as_of:%Y-%m-%d}: {len(grew)} segment(s) grew, {len(shrank)} shrank."
        if moves:
            top = max(moves, key=lambda c: abs(c.change))
            if top.change:
                summary += (f" Biggest change: {top.axis}:{top.name} {top.members_before:,} → {top.members_now:,}"
                            f" ({top.change:+,}).")
        return AnalyzeSegmentsResult(summary=summary, changes=moves, compared_run_id=old.run_id,
                                     compared_as_of=old.as_of, note=note, **base)

    return cached(ctx, "analyze_segments", run.run_id, params, compute, AnalyzeSegmentsResult)
