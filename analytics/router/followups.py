"""Turning what the offline router found into a decision: validated tool calls, clarifications
with options, the menu, and follow-ups that read the thread (more, pages, picks, narrowing)."""
from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from analytics.router.answer import Clarification, RouteDecision
from analytics.router.parsing import Parsed
from analytics.router.patterns import FORECAST_MAX, P_RECS
from analytics.tools.registry import registry

def input_model(tool: str):
    """The tool's input model (the registry's; an unknown tool is a KeyError: a router bug)."""
    found = registry().get(tool)
    if found is None:
        raise KeyError(tool)
    return found.input_model

def decision(tool: str, arguments: dict[str, Any]) -> RouteDecision:
    """A decision whose arguments the tool's input model accepts; otherwise a clarification
    naming the offending value (the tool itself would reject it the same way)."""
    model = input_model(tool)
    if tool == "forecast_metrics" and isinstance(arguments.get("horizon"), int):
        # The input allows 730 of any unit; the tool reaches two years ('forecast for 2027').
        unit = arguments.get("unit", "days")
        most = FORECAST_MAX.get(unit)
        if most is not None and arguments["horizon"] > most:
            return clarify(f"A forecast reaches at most two years ({most} {unit}; you asked for "
                            f"{arguments['horizon']} {unit}).", [(f"use {most} {unit} instead", tool,
                                                                   dict(arguments, horizon=most))])
    try:
        validated = model.model_validate(arguments)
    except ValidationError as exc:
        return _out_of_range(tool, arguments, exc)
    # Only what the question said (plus required fields): defaults stay implicit.
    keep = set(arguments) | {name for name, f in model.model_fields.items() if f.is_required()}
    return RouteDecision(tool=tool, arguments=validated.model_dump(include=keep, mode="json"))


def _out_of_range(tool: str, arguments: dict[str, Any], exc: ValidationError) -> RouteDecision:
    """Name the value the tool cannot take; for a number over/under its bound, offer the bound."""
    error = exc.errors()[0]
    field = str(error["loc"][0]) if error["loc"] else "arguments"
    value = arguments.get(field)
    bounds = {type(m).__name__: m for m in getattr(input_model(tool).model_fields.get(field), "metadata", [])}
    limit = None
    if isinstance(value, (int, float)):
        if "Le" in bounds and value > bounds["Le"].le:
            limit = bounds["Le"].le
        elif "Ge" in bounds and value < bounds["Ge"].ge:
            limit = bounds["Ge"].ge
    if limit is None:
        return RouteDecision(clarification=Clarification(
            question=f"I can't use {value!r} as {field.replace('_', ' ')}: {error['msg'].lower()}. Could you rephrase?"))
    fixed = dict(arguments, **{field: limit})
    return clarify(f"The {field.replace('_', ' ')} can be at most {limit} (you asked for {value:g})."
                    if limit < value else
                    f"The {field.replace('_', ' ')} must be at least {limit} (you asked for {value:g}).",
                    [(f"use {limit} instead", tool, fixed)])


def clarify(question: str, options: list[tuple[str, str, dict[str, Any]]], extra: dict[str, Any] | None = None) -> RouteDecision:
    calls = []
    for label, tool, args in options:
        merged = dict(args)
        for key, value in (extra or {}).items():
            if key in input_model(tool).model_fields:
                merged.setdefault(key, value)
        calls.append({"tool": tool, "arguments": merged, "label": label})
    return RouteDecision(clarification=Clarification(question=question, options=[o[0] for o in options]),
                         option_calls=calls)


def menu() -> RouteDecision:
    """The menu: every entry the tools declare (`@tool(menu=...)`), in catalog order."""
    return clarify("I'm not sure what you'd like to see. Which of these?", [
        (entry.label, t.name, dict(entry.arguments)) for t in registry() for entry in t.menu])


def previous_call(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    for turn in reversed(history):
        for call in turn.get("tool_calls") or []:
            if call.get("tool") in registry():
                return {"tool": call["tool"], "arguments": dict(call.get("arguments") or {})}
    return None


def pending_options(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls behind the options of a clarification asked in the last turn (each with its label)."""
    if history and history[-1].get("option_calls") and not history[-1].get("tool_calls"):
        return list(history[-1]["option_calls"])
    return []


def pick_option(text: str, options: list[dict[str, Any]], labels: list[str] | None = None) -> dict[str, Any] | None:
    """'2', 'the second', 'option 2' or words from the option's label (e.g. 'win-back')."""
    m = re.fullmatch(r"\s*(?:option\s*|number\s*|#)?(\d)\s*[.!)]?\s*", text)
    ordinal = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5}
    if m:
        index = int(m.group(1))
    elif len(options) == 1 and re.fullmatch(r"\s*(yes|yep|yeah|sure|ok(ay)?|please|do it|go ahead|use it)\b.*", text):
        index = 1
    elif (o := re.search(r"\b(first|second|third|fourth|fifth)\b", text)) and len(text.split()) <= 4:
        index = ordinal[o.group(1)]
    else:
        index = _option_by_words(text, labels or [])
        if index is None:
            return None
    return options[index - 1] if 1 <= index <= len(options) else None


_STOP = {"the", "by", "and", "for", "with", "of", "a", "an", "most", "please", "one", "ones"}


def _option_by_words(text: str, labels: list[str]) -> int | None:
    """A short reply that shares words with exactly one option's label ('lifetime value', 'win back')."""
    words = set(re.findall(r"[a-z]+", text)) - _STOP
    if not words or len(words) > 5:
        return None
    overlaps = [len(words & (set(re.findall(r"[a-z]+", label.lower())) - _STOP)) for label in labels]
    best = max(overlaps, default=0)
    if best == 0 or overlaps.count(best) > 1:
        return None
    return overlaps.index(best) + 1


def _row_ids_from_thread(history: list[dict[str, Any]]) -> list[str] | None:
    """The public ids of the rows the thread's latest tool result listed (in order), or None
    when the latest turn with a tool call listed no customers."""
    for turn in reversed(history):
        calls = turn.get("tool_calls") or []
        if not calls:
            continue
        for call in calls:
            result = call.get("result") or {}
            if isinstance(result.get("row_ids"), list):
                return [str(i) for i in result["row_ids"]]
            for value in result.values():
                if isinstance(value, list) and value and isinstance(value[0], dict) and "public_id" in value[0]:
                    return [str(row["public_id"]) for row in value if isinstance(row, dict) and row.get("public_id")]
        return None
    return None


def row_from_thread(history: list[dict[str, Any]], p: Parsed) -> RouteDecision | None:
    """'tell me about the first one' after a list: that row's customer (recommendations if asked)."""
    assert p.row_ref is not None
    ids = _row_ids_from_thread(history)
    if ids is None:
        return None
    if p.row_ref > len(ids):
        return RouteDecision(clarification=Clarification(
            question=f"I only have the first {len(ids)} rows of that list, so I can't tell which customer is "
                     f"number {p.row_ref}. Which customer id (C-…) do you mean?"))
    customer = ids[p.row_ref - 1]
    if P_RECS.search(p.text) or re.search(r"\b(discount|offer|compensat\w*|coupon|perk)\b", p.text):
        return decision("get_recommendations", {"customer": customer})
    return decision("lookup_customer", {"customer": customer})


def has_any_slot(p: Parsed) -> bool:
    return any([p.segments, p.archetype, p.categories, p.money is not None, p.limit, p.period, p.horizon,
                p.metric, p.risk_level, p.value_tier, p.campaign, p.days_ago])


def only_slot_change(p: Parsed) -> bool:
    """'same for last quarter', 'what about orders': the question changes a slot, not the tool."""
    # 'only the vips' / 'just the critical ones' narrow the list the thread is about: the
    # ranking and the other filters stay as they were.
    return bool(re.search(r"\b(same|instead|what about|how about|and for|now for|but for|only|just|again)\b", p.text)) \
        and not re.search(r"\b(forecast|campaign|segments|archetypes?|products?|categor\w+|recommend\w*)\b", p.text)


def _changes_for(tool: str, p: Parsed) -> dict[str, Any]:
    fields = input_model(tool).model_fields
    candidate: dict[str, Any] = {}
    if p.period:
        candidate["period"] = p.period
    if p.horizon:
        candidate["horizon"], candidate["unit"] = p.horizon
    if p.metric and tool == "forecast_metrics":
        candidate["metric"] = p.metric
    if p.limit:
        candidate["limit"] = p.limit
    if p.money is not None:
        candidate["min_value"] = p.money
    if p.segments:
        candidate["segment"] = p.segments[0]
    if p.archetype:
        candidate["archetype"] = p.archetype
    if p.risk_level:
        candidate["risk_level"] = p.risk_level
    if p.value_tier:
        candidate["value_tier"] = p.value_tier
    if p.campaign and tool == "target_campaign":
        candidate["campaign"] = p.campaign
    if p.days_ago:
        candidate["days_ago"] = p.days_ago
    if p.categories and tool == "analyze_products":
        candidate["category"] = p.categories[0]
    if p.axis and tool == "analyze_segments":
        candidate["axis"] = p.axis
    if tool == "forecast_metrics" and p.period and not p.horizon:
        # 'same for last quarter' on a forecast means a quarter ahead.
        candidate.pop("period")
        candidate["horizon"], candidate["unit"] = 3, "months"
    return {k: v for k, v in candidate.items() if k in fields}


def merge(previous: dict[str, Any], p: Parsed) -> RouteDecision | None:
    changes = _changes_for(previous["tool"], p)
    if not changes:
        return None
    args = dict(previous["arguments"])
    args.pop("offset", None)
    args.update(changes)
    return decision(previous["tool"], args)


def carry_over(fresh: RouteDecision, previous: dict[str, Any]) -> RouteDecision:
    """'and which of them bought batting?': a new tool, narrowed to the group the thread was about."""
    assert fresh.tool is not None
    fields = input_model(fresh.tool).model_fields
    if fresh.tool == previous["tool"]:
        # 'now just the whales': the same list, narrowed.
        args = {k: v for k, v in previous["arguments"].items() if k != "offset"}
        args.update(fresh.arguments)
        return decision(fresh.tool, args)
    args = dict(fresh.arguments)
    for key in ("segment", "archetype"):
        if key in fields and key not in args and previous["arguments"].get(key):
            args[key] = previous["arguments"][key]
    return decision(fresh.tool, args)
