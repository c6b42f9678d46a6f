"""The offline router: a deterministic map from a question (plus the thread so far) to one tool
call with arguments, a clarifying question with options, or a refusal. Used without an API key
and whenever Claude fails. No model, no network: keyword phrases on typo-corrected text + slots.
"""
from __future__ import annotations

import re
from typing import Any


from analytics.router import safety, slots
from analytics.router.answer import RouteDecision
from analytics.router.followups import (
    carry_over, clarify, decision, has_any_slot, input_model, menu, merge, only_slot_change,
    pending_options, pick_option, previous_call, row_from_thread,
)
from analytics.router.parsing import Parsed, QuestionParser
from analytics.tools.registry import registry
from analytics.router.patterns import (
    PRODUCT_SORTS, P_ARCHETYPE, P_BUYERS, P_LAPSED, P_PROBABILITY, P_CAMPAIGN, P_CHANGES, P_CHURN, P_COMPARE, P_CUSTOMER_LIST, P_DECLINING, P_DESCRIBE, P_DETAIL, P_DISCOUNT_DEP, P_DOMAIN, P_FOLLOWUP_START, P_FORECAST, P_FREQUENCY, P_MORE, P_MOVES, P_ONE_TIME, P_PREDICTED, P_PRODUCTS, P_RECENCY, P_RECS, P_REFERENTIAL, P_SEGMENTS, P_VALUE, P_WHAT_BUY,
)


def _owned_by_a_tool(p: Parsed) -> RouteDecision | None:
    """A question matching the phrases a tool declares itself (`@tool(offline=...)`)."""
    for found in registry():
        if found.offline is not None and found.offline.pattern.search(p.text):
            arguments = found.offline.arguments(p) if found.offline.arguments else {}
            if arguments is not None:
                return decision(found.name, arguments)
    return None


class OfflineRouter:
    """Routes a question deterministically. `vocabulary` holds the store's names (segments,
    archetypes, categories) and the data's latest date, which relative periods are anchored to."""

    def __init__(self, vocabulary: slots.Vocabulary | None = None) -> None:
        self.parser = QuestionParser(vocabulary)
        self.vocabulary = self.parser.vocabulary

    def parse(self, question: str) -> Parsed:
        return self.parser.parse(question)

    # -- routing ---------------------------------------------------------------------------------------

    def route(self, question: str, history: list[dict[str, Any]] | None = None) -> RouteDecision:
        refusal = safety.refusal_for(question)
        if refusal:
            return RouteDecision(refusal=refusal)
        history = history or []
        previous = previous_call(history)
        pending = pending_options(history)

        parsed = self.parse(question)
        # A tool's own phrases are store vocabulary too, whatever the off-topic list says.
        if safety.is_off_topic(question) and not P_DOMAIN.search(parsed.text) and _owned_by_a_tool(parsed) is None:
            return RouteDecision(refusal=safety.REFUSE_OFF_TOPIC)
        if pending:
            picked = pick_option(parsed.text, pending, [call.get("label", "") for call in pending])
            if picked is not None:
                return decision(picked["tool"], picked["arguments"])

        if parsed.row_ref is not None and not parsed.customers:
            picked = row_from_thread(history, parsed)
            if picked is not None:
                return picked

        if parsed.rows:
            paged = self._page(parsed, previous)
            if paged is not None:
                return paged

        if previous and P_MORE.search(parsed.text) and "offset" in input_model(previous["tool"]).model_fields:
            args = dict(previous["arguments"])
            step = args.get("limit", input_model(previous["tool"]).model_fields["limit"].default)
            args["offset"] = args.get("offset", 0) + step
            return decision(previous["tool"], args)

        fresh = self._classify(parsed)
        followup = bool(previous) and (
            bool(P_FOLLOWUP_START.search(parsed.text)) or bool(P_REFERENTIAL.search(parsed.text))
        )
        if followup:
            assert previous is not None
            if fresh is not None and fresh.tool is not None and not only_slot_change(parsed):
                return carry_over(fresh, previous)
            merged = merge(previous, parsed)
            if merged is not None:
                return merged
        if fresh is not None:
            return fresh
        if safety.is_off_topic(question) or not P_DOMAIN.search(parsed.text):
            if previous and has_any_slot(parsed):
                merged = merge(previous, parsed)
                if merged is not None:
                    return merged
            # Clearly off-topic ('weather?', 'tell me a joke') gets a polite no; anything else
            # ('hi', 'show me everything') the menu of what the bot can do. A store word next to
            # an off-topic one ('how did the Rain collection sell?') is not off-topic.
            if safety.is_off_topic(question) and not P_DOMAIN.search(parsed.text):
                return RouteDecision(refusal=safety.REFUSE_OFF_TOPIC)
        if previous and has_any_slot(parsed):
            merged = merge(previous, parsed)
            if merged is not None:
                return merged
        return menu()

    def _page(self, p: Parsed, previous: dict[str, Any] | None) -> RouteDecision | None:
        """'customers 11-20': that page of the list the question (or else the thread) ranks."""
        assert p.rows is not None
        offset, size = p.rows
        fresh = self._classify(p)
        pageable = fresh is not None and fresh.tool is not None and "offset" in input_model(fresh.tool).model_fields
        if previous and "offset" in input_model(previous["tool"]).model_fields and (
                fresh is None or fresh.tool is None or fresh.tool == previous["tool"]):
            # The thread's list, paged: its ranking and filters stay unless the question names others.
            args = {k: v for k, v in previous["arguments"].items() if k != "offset"}
            if pageable:
                args.update(fresh.arguments)
            return decision(previous["tool"], dict(args, offset=offset, limit=size))
        if pageable:
            assert fresh is not None and fresh.tool is not None
            return decision(fresh.tool, dict(fresh.arguments, offset=offset, limit=size))
        return None

    def _classify(self, p: Parsed) -> RouteDecision | None:
        t = p.text
        seg = p.segments[0] if p.segments else None
        owned = _owned_by_a_tool(p)
        if owned is not None:
            return owned

        if p.customers:
            if P_RECS.search(t) or re.search(r"\b(discount|offer|compensat\w*|coupon|perk)\b", t):
                return decision("get_recommendations", {"customer": p.customers[0]})
            return decision("lookup_customer", {"customer": p.customers[0]})

        archetype_words = bool(p.archetype)
        if P_CAMPAIGN.search(t) and not (P_PRODUCTS.search(t) and not P_CUSTOMER_LIST.search(t)):
            campaign = p.campaign
            if campaign is None and P_RECENCY.search(t):
                campaign = "win_back"
            if campaign is None and p.categories:
                # 'who should I target for a batting sale': the buyers of batting and of what goes with it
                return decision("target_campaign", slots.as_dict(
                    campaign="product", bought=p.categories[0], segment=seg, archetype=p.archetype,
                    min_value=p.money, limit=p.limit))
            if campaign is None:
                return clarify(
                    "Which kind of campaign?", [
                        ("retention (active but at risk)", "target_campaign", {"campaign": "retention"}),
                        ("win-back (lapsed customers)", "target_campaign", {"campaign": "win_back"}),
                        ("upsell (growing buyers)", "target_campaign", {"campaign": "upsell"}),
                        ("VIP (most valuable)", "target_campaign", {"campaign": "vip"}),
                        ("seasonal (holiday buyers)", "target_campaign", {"campaign": "seasonal"}),
                    ], extra=slots.as_dict(segment=seg, archetype=p.archetype, min_value=p.money, limit=p.limit))
            return decision("target_campaign", slots.as_dict(
                campaign=campaign, segment=seg, archetype=p.archetype, min_value=p.money, limit=p.limit))

        behaviour = None
        if P_DISCOUNT_DEP.search(t) and not archetype_words:
            behaviour = "discount_dependency"
        elif P_ONE_TIME.search(t) and not archetype_words:
            behaviour = "one_time_buyers"
        elif P_DECLINING.search(t) and not P_FORECAST.search(t):
            behaviour = "declining"
        elif P_MOVES.search(t) and not P_COMPARE.search(t):
            # Moves between segments need two runs; 'changed behaviour' is read within each
            # customer's own history (one run is enough).
            behaviour = "segment_moves" if re.search(r"\b(segments?|groups?|clusters?|moved)\b", t) else "recent_change"
        if behaviour and (p.segments or p.archetype) and (P_DETAIL.search(t) or P_DESCRIBE.search(t)):
            behaviour = None  # 'deep dive on discount driven' names a segment, not a behaviour
        if behaviour == "recent_change" and not P_RECS.search(t):
            weeks = {7: 2, 14: 2, 28: 4}.get(p.days_ago) if p.days_ago else None
            if re.search(r"\b(8|eight) weeks\b|\b(2|two) months\b", t):
                weeks = 8
            return decision("analyze_behavior", slots.as_dict(
                focus=behaviour, window_weeks=weeks, segment=seg, limit=p.limit))
        if behaviour and not P_RECS.search(t):
            return decision("analyze_behavior", slots.as_dict(
                focus=behaviour, days_ago=p.days_ago, segment=seg, limit=p.limit))

        if P_RECS.search(t):
            return decision("get_recommendations", slots.as_dict(segment=seg if not p.archetype else None,
                                                                 archetype=p.archetype))

        customer_list = bool(P_CUSTOMER_LIST.search(t))
        if P_FORECAST.search(t) and not P_PREDICTED.search(t) and not (
                customer_list and (P_CHURN.search(t) or P_VALUE.search(t)) and not p.metric):
            if not (customer_list and re.search(r"\bwho\b|\bwhich customers\b", t)):
                horizon, unit = p.horizon or (90, "days")
                return decision("forecast_metrics", {"metric": p.metric or "revenue", "horizon": horizon, "unit": unit})

        if p.categories and not p.bought_with and P_BUYERS.search(t) and not P_WHAT_BUY.search(t):
            return self._buyers(p, seg)
        if P_PRODUCTS.search(t) or p.bought_with or (p.categories and not P_SEGMENTS.search(t)) or P_WHAT_BUY.search(t):
            return self._products(p, seg)

        # Ranking words are read on the full text: 'most frequent buyers' ranks even though
        # 'frequent' is also a segment's name.
        full = p.full_text
        ranking = P_CHURN.search(full) or P_VALUE.search(full) or P_RECENCY.search(full) or P_FREQUENCY.search(full) \
            or P_PREDICTED.search(full)
        if ranking and customer_list and not P_SEGMENTS.search(t) and not P_ARCHETYPE.search(t) and not P_DESCRIBE.search(t):
            return self._customers(p, seg)
        if P_SEGMENTS.search(t) or p.segments or P_ARCHETYPE.search(t) or p.archetype:
            found = self._segments(p)
            if found is not None:
                return found

        if customer_list or P_CHURN.search(t) or P_VALUE.search(t) or P_RECENCY.search(t) or P_FREQUENCY.search(t) \
                or p.risk_level or p.value_tier or P_PREDICTED.search(t):
            return self._customers(p, seg)

        if re.search(r"\b(revenue|sales|turnover|aov|average order value)\b", t) and (p.horizon or P_FORECAST.search(t)):
            horizon, unit = p.horizon or (90, "days")
            return decision("forecast_metrics", {"metric": p.metric or "revenue", "horizon": horizon, "unit": unit})
        if re.search(r"\b(revenue|sales|turnover)\b", t) and p.period:
            return decision("analyze_products", {"group_by": "category", "sort_by": "revenue", "period": p.period})
        return None

    def _buyers(self, p: Parsed, seg: str | None) -> RouteDecision:
        """'how many customers bought pre-cuts in 2024', 'who bought the most kits': the customers
        who bought a category, biggest buyers of it first unless another ranking is asked for."""
        ranked = self._customers(p, seg)
        arguments = dict(ranked.arguments) if ranked.tool == "analyze_customers" else {}
        explicit = P_CHURN.search(p.full_text) or P_VALUE.search(p.full_text) or P_RECENCY.search(p.full_text) \
            or P_FREQUENCY.search(p.full_text) or P_PREDICTED.search(p.full_text)
        if not explicit or arguments.get("sort_by") is None:
            arguments["sort_by"] = "bought"
            arguments.pop("lifecycle", None)
        arguments.update(slots.as_dict(bought=p.categories[0], period=p.period))
        return decision("analyze_customers", arguments)

    def _products(self, p: Parsed, seg: str | None) -> RouteDecision:
        t = p.text
        if not p.bought_with and not p.categories and re.search(
                r"\b(bought|buy|sold|go|goes|sell|purchased) together\b|\b(pairs?|combinations?|combos?)\b|"
                r"\bbasket analysis\b|\bcross[- ]?sell", t):
            # 'which products are bought together': the store's pairs, no anchor needed
            return decision("analyze_products", slots.as_dict(pairs=True, period=p.period, limit=p.limit))
        sort_by = next((name for name, rx in PRODUCT_SORTS if re.search(rx, t)), "revenue")
        by_product = bool(re.search(r"\b(products?|skus?|items?|best[- ]?sellers?|best[- ]?selling|top[- ]?selling|bought together|buy together)\b", t)) \
            and not re.search(r"\bcategor(y|ies)\b", t)
        category = None
        if p.categories and not (p.bought_with and p.categories[0].lower() in p.bought_with.lower()):
            category = p.categories[0]
            # 'best batting products': products within the category
            by_product = True if not re.search(r"\bcategor(y|ies)\b", t) else by_product
        return decision("analyze_products", slots.as_dict(
            group_by="product" if (by_product or p.bought_with) else "category", sort_by=sort_by, category=category,
            bought_with=p.bought_with, segment=seg if not p.archetype else None, archetype=p.archetype,
            period=p.period, limit=p.limit))

    def _segments(self, p: Parsed) -> RouteDecision | None:
        t = p.text
        if P_COMPARE.search(t) and len(p.segments) >= 2:
            return decision("analyze_segments", {"mode": "compare", "segment": p.segments[0], "other_segment": p.segments[1]})
        if P_CHANGES.search(t) and P_SEGMENTS.search(t) and not p.segments:
            return decision("analyze_segments", slots.as_dict(mode="changes", days_ago=p.days_ago))
        customer_list = bool(re.search(r"\b(customers|who|which|people|shoppers|buyers|list|members|ones)\b", t))
        # 'replenishers at risk': churn is about customers, so a named group + churn words lists them.
        if (p.archetype or p.segments) and (((P_CHURN.search(t) or p.risk_level) and not P_DESCRIBE.search(t)) or (
                (P_VALUE.search(t) or p.value_tier) and customer_list)):
            return self._customers(p, p.segments[0] if p.segments else None)
        if p.archetype:
            return decision("segment_info", {"name": p.archetype})
        if p.segments:
            if P_DETAIL.search(t) or re.search(r"\bhow (?:is|are|big|large|many)\b|\bsize\b|\bdoing\b", t):
                return decision("analyze_segments", {"mode": "detail", "segment": p.segments[0]})
            return decision("segment_info", {"name": p.segments[0]})
        if P_ARCHETYPE.search(t) and not P_SEGMENTS.search(t):
            return decision("segment_info", {})
        if P_SEGMENTS.search(t):
            return decision("analyze_segments", slots.as_dict(mode="overview", axis=p.axis))
        return None

    def _customers(self, p: Parsed, seg: str | None) -> RouteDecision:
        t = p.full_text
        lifecycle = None
        if P_PREDICTED.search(t):
            sort_by = "predicted_value"
        elif P_LAPSED.search(t) and not p.risk_level:
            # 'customers we lost': gone, reached through win-back; the most valuable first.
            sort_by, lifecycle = "value", "lapsed"
        elif P_CHURN.search(t) and not p.risk_level and not P_PROBABILITY.search(t):
            # 'about to churn': still within reach (not long gone), ranked by what losing them costs.
            sort_by, lifecycle = "value_at_stake", "at_risk"
        elif P_CHURN.search(t) or p.risk_level:
            sort_by = "churn_risk"
        elif P_RECENCY.search(t):
            sort_by = "recency"
        elif P_FREQUENCY.search(t):
            sort_by = "frequency"
        elif P_VALUE.search(t) or p.money is not None or p.value_tier or re.search(r"\b(top|best|biggest|largest)\b", t):
            sort_by = "value"
        elif p.rows:
            # 'customers 11-20' pages a list: the thread's ranking if it has one (see _page),
            # else the tool's default ranking (churn risk) rather than a question back.
            sort_by = None
        else:
            extra = slots.as_dict(segment=seg if not p.archetype else None, archetype=p.archetype,
                                  value_tier=p.value_tier, min_value=p.money, limit=p.limit)
            return clarify("How should I rank the customers?", [
                ("by churn risk", "analyze_customers", {"sort_by": "churn_risk"}),
                ("by lifetime value", "analyze_customers", {"sort_by": "value"}),
                ("by predicted value (next 12 months)", "analyze_customers", {"sort_by": "predicted_value"}),
                ("longest since last order", "analyze_customers", {"sort_by": "recency"}),
                ("by number of orders", "analyze_customers", {"sort_by": "frequency"}),
            ], extra=extra)
        if seg and seg.split(":")[0] == {"frequency": "frequency", "value": "value"}.get(sort_by):
            seg = None  # 'most frequent buyers' ranks by frequency; it does not filter a segment
        return decision("analyze_customers", slots.as_dict(
            sort_by=sort_by, segment=seg if not p.archetype else None, archetype=p.archetype,
            value_tier=p.value_tier, risk_level=p.risk_level, min_value=p.money, limit=p.limit,
            lifecycle=lifecycle))


