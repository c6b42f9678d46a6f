"""The offline router: a deterministic map from a question (plus the thread so far) to one tool
call with arguments, a clarifying question with options, or a refusal. Used without an API key
and whenever Claude fails. No model, no network: keyword phrases on typo-corrected text + slots.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable

from pydantic import ValidationError

from analytics.router import safety, slots
from analytics.router.answer import Clarification, RouteDecision
from analytics.tools.inputs import TOOL_INPUTS

# --- typo correction ---------------------------------------------------------------------------------

# Words the intent phrases are built from; a misspelt question word is corrected to the nearest.
DOMAIN_WORDS = """
customer customers client clients buyer buyers shopper shoppers people folks accounts
churn churning churned churners risk risky riskiest leaving lapsing lapsed losing slipping
value valuable spenders spender spent spend spending lifetime revenue sales turnover income
orders order ordered ordering purchases purchase purchased bought buying frequent frequency often
recency recent inactive dormant stopped
segment segments segmentation cluster clusters axis axes dimension groups group
archetype archetypes persona personas types kinds profile profiles
compare comparison versus difference between against changed changes change grown growth
shrunk shrinking trend trends detail details breakdown depth
product products item items category categories catalogue catalog bestsellers bestseller
selling sells sold together basket repeat reorder inventory fabric fabrics kits
forecast forecasts forecasting predict prediction projection projected outlook expect expected
estimate next coming quarter month months week weeks year years days ahead average
campaign campaigns target targeting promo promotion newsletter outreach mailing retention
winback reactivate reengage upsell crosssell seasonal holiday christmas loyalty reward rewards
moved switched migrated shifted behaviour behavior declining decline dropping slowing engagement
discount discounts coupon coupons dependent dependency hunters bargain deals single once
recommend recommendation recommendations suggest suggestion actions action strategy advice
compensation offer offers retain keep save treat handle approach
whale whales vips critical medium high regular show list give top biggest largest highest
most best worst lowest many much who which what where when how look lookup check
overview summary tell about explain describe info information quarterly monthly weekly
""".split()
# Ordinary words that must never be 'corrected' into a domain word.
COMMON_WORDS = """
the and for with from that this these those them they their there what which who whom whose
have has had haven't hasn't does did doing done will would could should shall about into over
under some any all each every more less than then only just also very really still much many
same other another again back been being were was are is isn't aren't wasn't can't don't won't
your yours ours our mine here when where why how make made get got give gave take took want need
like love hate know think said says tell told show shown find found come came went gone going
long last first good well time times ever never always often soon later today yesterday tomorrow
bring sell sells sold buys year years month months week weeks days please thanks thank hello
instead whole part parts half number numbers amount total totals left right down around
black white green blue blast fast past ages while since after before first second third night
friday monday tuesday wednesday thursday saturday sunday spring summer autumn winter fall
football weather joke story world money people person thing things stuff great little small
""".split()


# Chat shorthand, expanded before spelling correction (too short for it to guess).
SHORTHAND = {
    "nxt": "next", "abt": "about", "r": "are", "u": "you", "ur": "your", "pls": "please", "plz": "please",
    "cust": "customer", "custs": "customers", "rev": "revenue", "qtr": "quarter", "wk": "week", "wks": "weeks",
    "yr": "year", "yrs": "years", "mo": "month", "mos": "months", "rsk": "risk", "prod": "product",
    "prods": "products", "cat": "category", "cats": "categories", "seg": "segment", "segs": "segments",
    "w/": "with", "b4": "before", "thx": "thanks", "ppl": "people", "avg": "average", "amt": "amount",
    "tho": "though", "wat": "what", "wut": "what", "hw": "how", "whos": "who's", "hows": "how's",
}


class TypoCorrector:
    """Corrects misspelt words to known ones by symmetric deletion (one delete on each side covers
    a substitution, insertion, deletion or transposition), so lookups stay O(word length)."""

    def __init__(self, targets: Iterable[str], known: Iterable[str] = ()) -> None:
        targets = {w for w in targets if w}
        # Known words are left alone but never corrected *into* ('black' must not become 'back').
        self.known = targets | {w for w in known if w}
        self.deletes: dict[str, set[str]] = {}
        for word in targets:
            if len(word) >= 4 and word.isalpha():
                for variant in self._variants(word):
                    self.deletes.setdefault(variant, set()).add(word)
        self._memo: dict[str, str] = {}

    @staticmethod
    def _variants(word: str) -> set[str]:
        return {word} | {word[:i] + word[i + 1:] for i in range(len(word))}

    def correct(self, token: str) -> str:
        # Four-letter words are too easily 'corrected' into another word ('ages' -> 'axes').
        if token in self.known or len(token) < 5 or not token.isalpha():
            return token
        hit = self._memo.get(token)
        if hit is not None:
            return hit
        candidates: set[str] = set()
        for variant in self._variants(token):
            candidates |= self.deletes.get(variant, set())
        best = token
        if candidates:
            # Closest first; then the candidate sharing the first letter; then alphabetical (deterministic).
            best = min(candidates, key=lambda c: (_distance(token, c), c[0] != token[0], abs(len(c) - len(token)), c))
            if _distance(token, best) > (1 if len(token) <= 5 else 2):
                best = token
        if len(self._memo) < 50_000:
            self._memo[token] = best
        return best


def _distance(a: str, b: str) -> int:
    """Optimal string alignment distance (Levenshtein plus adjacent transpositions)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[len(b)]


# --- intent phrases (on corrected, normalised text) --------------------------------------------------

def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


P_RECS = _rx(r"\b(recommend\w*|suggest\w*|next best|best action|next steps?|what (?:should|can|could|do) (?:we|i) (?:do|offer|give|send)|"
             r"how (?:do|can|should|could|would) (?:we|i) (?:keep|retain|save|win|handle|treat|approach|engage|re-?engage|grow|nurture|stop|deal)|"
             r"what (?:actions?|perks?|offers?)|actions? (?:for|to take)|compensat\w*|what discount|how much (?:discount|off|of a discount)|"
             r"which discount|discount tier|advice|advise|playbook|strateg(?:y|ies)|tips? (?:for|on)|ideas? (?:for|to)|what to do)\b")
P_FORECAST = _rx(r"\b(forecast\w*|predict(?:ion|ions|ed)?|project(?:ion|ions|ed)?|outlook|expect(?:ed)?|estimate[sd]?|trajectory|"
                 r"will (?:we|revenue|sales|orders|aov|it)|going to (?:make|sell|do|be|look)|next (?:quarter|month|year|week|\d+|few|half)|"
                 r"coming (?:weeks|months|quarter|year)|ahead|look like)\b")
P_CUSTOMER_LIST = _rx(r"\b(customers?|clients?|buyers|shoppers|people|who|whom|accounts|folks|anyone|whales?|vips?|regulars|names|list)\b")
P_CHURN = _rx(r"\b(churn\w*|at[- ]risk|risky|riskiest|risk|about to (?:leave|churn|lapse|go|quit)|likely to (?:leave|churn|lapse|stop)|leaving|slipping|"
              r"lapsing|lose|losing|flight risk|going quiet|disengag\w*|in danger)\b")
P_VALUE = _rx(r"\b(most valuable|best customers|top customers|top spenders|biggest spenders|big spenders|highest (?:spend|spending|spenders|value|ltv|clv|revenue)|"
              r"spent the most|spend the most|spend most|lifetime value|ltv|clv|whales?|vips?|most revenue|biggest customers|top buyers|best buyers|"
              r"by value|worth the most|most money|biggest)\b")
P_PREDICTED = _rx(r"\b(predicted (?:value|clv|ltv|spend)|future value|will (?:spend|buy|be worth|order) (?:the )?most|(?:next|coming) (?:12 months|year)'?s? (?:value|spend)|"
                  r"expected (?:value|spend|clv)|potential|most promising|will be (?:the )?most valuable)\b")
P_RECENCY = _rx(r"\b(not been back|ha(?:s|ve)n'?t been back|ha(?:s|ve)n'?t (?:ordered|bought|purchased|shopped|been back|come back)|not (?:ordered|bought|purchased|shopped)|longest (?:since|without)|"
                r"inactive|dormant|gone quiet|went quiet|since (?:their )?last order|recency|oldest last order|stopped (?:buying|ordering|shopping)|"
                r"longest time|ages|a while|a long time|most overdue|overdue)\b")
P_FREQUENCY = _rx(r"\b(most orders|most frequent|order(?:ed)? (?:the )?most|most often|frequent (?:buyers|shoppers|customers)|highest frequency|"
                  r"buy the most often|shop the most|regulars|by frequency|by (?:number of )?orders|order count)\b")
P_CAMPAIGN = _rx(r"\b(campaigns?|target(?:ing|ed)?|email blast|blast|newsletter|promo(?:tion)?s?|outreach|mailing|mailer|"
                 r"send (?:a |an )?(?:offer|coupon|discount|email|voucher|code)|who should (?:we|i) (?:email|contact|send|target|reach|call|mail|text)|"
                 r"who to (?:email|contact|target)|audience|list for|(?:retention|upsell|win[- ]?back|winback|seasonal|vip|reactivation) (?:list|targets?|selection|mailing)|win[- ]?back|winback|reactivat\w*|re-?engage\w*|emails? to)\b")
P_MOVES = _rx(r"\b(moved|move[sd]?|switch(?:ed|ing)?|changed (?:segment|segments|group|groups)|segment (?:moves|changes|switch\w*|migration)|"
              r"migrat\w*|shift(?:ed|s)?|behaviou?r(?:al)? (?:change|changes|shift)|behaviou?r changed|changed (?:behaviou?r|their)|"
              r"(?:changing|changed) (?:how|the way))\b")
P_DECLINING = _rx(r"\b(declin\w*|drop(?:ping|ped)? off|slow(?:ing|ed)? down|slowing|falling engagement|less engaged|engagement (?:drop|fall|is falling)|"
                  r"buying less|ordering less|cooling off|fading|waning|falling off)\b")
P_ONE_TIME = _rx(r"\b(one[- ]time|one[- ]off|only (?:ever )?(?:bought|ordered|purchased|shopped|buy) once|single[- ](?:order|purchase)|"
                 r"never (?:came back|returned|reordered|ordered again|bought again|come back)|just one order|1 order|first order only|"
                 r"didn'?t come back|once and never)\b")
P_DISCOUNT_DEP = _rx(r"\b(discount[- ]?(?:dependen\w*|depend\w*|addict\w*|hunters?|junkies?|driven|seekers?|reliant|reliance|shoppers?|buyers?)|"
                     r"only (?:buy|buys|shop|shops|order|orders|purchase) (?:on|with|during|when (?:there'?s|on)) (?:a )?(?:sale|discount|coupons?|promos?)|"
                     r"coupon (?:hunters?|users?|clippers?|dependen\w*)|deal seekers|need a discount|rely on (?:discounts|coupons)|hooked on (?:discounts|coupons)|"
                     r"dependen\w* on (?:discounts|coupons|promos))\b")
P_PRODUCTS = _rx(r"\b(products?|skus?|items?|categor(?:y|ies)|best[- ]?sellers?|best[- ]?selling|top[- ]?selling|sell(?:s|ing)? (?:best|most|well)|"
                 r"what sells|sold|selling|merch\w*|catalog(?:ue)?|repeat (?:purchase|rate|buy)|reorder\w*|bought together|buy together|"
                 r"basket analysis|fabrics?|kits?|inventory|stock|popular)\b")
P_SEGMENTS = _rx(r"\b(segments?|segmentation|clusters?|axis|axes|dimensions?)\b")
P_ARCHETYPE = _rx(r"\b(archetypes?|personas?|customer types?|types of (?:customers|shoppers|buyers)|kinds of (?:customers|shoppers|buyers)|"
                  r"customer profiles|profiles of our|who (?:are|is) our (?:customers|shoppers)|what (?:kind|kinds|type|types) of)\b")
P_COMPARE = _rx(r"\b(compare\w*|comparison|vs\.?|versus|difference between|differ\w*|against)\b")
P_CHANGES = _rx(r"\b(grew|grow(?:n|ing|th)?|shr[au]nk|shrink\w*|chang(?:e|ed|es|ing)|over time|trend\w*|bigger|smaller|since last (?:week|run|month)|evolv\w*)\b")
P_DETAIL = _rx(r"\b(in depth|in detail|detail(?:s|ed)?|deep ?dive|drill (?:down|into)|break ?down|breakdown|dig into|zoom in|stats|numbers on|metrics for)\b")
P_DESCRIBE = _rx(r"\b(tell me about|what (?:is|are)|what'?s|who (?:are|is)|describe|explain|info|about the|card|summary of|meaning of)\b")
P_DOMAIN = _rx(r"\b(customers?|clients?|buyers?|shoppers?|store|shop|orders?|sales|revenue|churn\w*|segments?|archetypes?|products?|"
               r"campaigns?|forecast\w*|value|spend\w*|discount\w*|risk|buy\w*|bought|sell\w*|sold|categor\w*|quarter|month)\b")
P_FOLLOWUP_START = _rx(r"^(and|also|what about|how about|same|now|ok(?:ay)?|then|only|just|but|plus|instead)\b")
P_REFERENTIAL = _rx(r"\b(them|those|these|they|that list|the same|same (?:for|but|thing|again|as before)|instead|as well|of them|among them)\b")
P_MORE = _rx(r"^(?:show |give me |load |see )?(?:some |the )?(?:more|next(?: page| \d+| ones)?|another (?:\d+|page|batch)|keep going|continue)\b")

P_WHAT_BUY = _rx(r"\bwhat (?:do|does|did|are|is) (?:the |our )?[\w'‹› -]{2,40}? (?:buy|buying|purchase|purchasing|order|ordering|get|getting)\b")

PRODUCT_SORTS = (
    ("repeat_rate", r"\b(repeat|reorder\w*|bought again|buy again|come back for|loyal)\b"),
    ("customers", r"\b(most customers|most buyers|most people|how many (?:customers|people|buyers)|widest reach|popular with|reach)\b"),
    ("orders", r"\b(most orders|number of orders|order count|most often|how often|most times|units|volume|ordered most)\b"),
)
FORECAST_MAX = {"days": 730, "weeks": 104, "months": 24}   # forecast_metrics' two-year reach
CAMPAIGN_OPTIONS = ["retention", "win_back", "upsell", "vip", "seasonal"]


@dataclass
class Parsed:
    """The question after normalisation and typo correction, with every slot found in it.
    `text` has the store's segment/archetype names blanked out; `full_text` keeps them."""

    text: str
    full_text: str
    customers: list[str]
    segments: list[str]
    archetype: str | None
    categories: list[str]
    bought_with: str | None
    money: float | None
    limit: int | None
    period: str | None
    horizon: tuple[int, str] | None
    metric: str | None
    risk_level: str | None
    value_tier: str | None
    campaign: str | None
    axis: str | None
    days_ago: int | None
    rows: tuple[int, int] | None = None   # (offset, limit) from 'customers 11-20'
    row_ref: int | None = None            # 1-based row of the thread's last list: 'the 3rd one'


class OfflineRouter:
    """Routes a question deterministically. `vocabulary` holds the store's names (segments,
    archetypes, categories) and the data's latest date, which relative periods are anchored to."""

    def __init__(self, vocabulary: slots.Vocabulary | None = None) -> None:
        self.vocabulary = vocabulary or slots.Vocabulary()
        self.corrector = TypoCorrector(set(DOMAIN_WORDS) | self.vocabulary.words(), COMMON_WORDS)

    # -- parsing ---------------------------------------------------------------------------------------

    def parse(self, question: str) -> Parsed:
        raw = slots.normalise(question)
        # Ids and amounts are read from the raw text: the corrector must never touch them.
        customers = slots.customer_ids(raw)
        text = " ".join(self._correct_words(raw))
        vocab = self.vocabulary
        segment_matches = slots.segment_matches(text, vocab)
        archetype_match = slots.archetype_match(text, vocab)
        spans = [(a, b) for a, b, _ in segment_matches] + ([archetype_match[:2]] if archetype_match else [])
        # Intent words and categorical slots are read with the store's names blanked out.
        intent = slots.mask_names(text, spans)
        return Parsed(
            text=intent, full_text=text, customers=customers, segments=[v for _, _, v in segment_matches],
            archetype=archetype_match[2] if archetype_match else None, categories=slots.categories(text, vocab),
            bought_with=slots.bought_with(text), money=slots.money(raw), limit=slots.limit(text),
            period=slots.period(text, vocab.anchor),
            # 'sales in 2024' (the data's own year) is the past unless the question forecasts.
            horizon=slots.horizon(text, vocab.anchor, current_year=bool(P_FORECAST.search(intent))),
            metric=slots.metric(intent),
            risk_level=slots.risk_level(intent), value_tier=slots.value_tier(intent),
            campaign=slots.campaign(intent), axis=slots.axis(intent), days_ago=slots.days_ago(text),
            rows=slots.row_range(text), row_ref=slots.row_reference(text),
        )

    def _correct_words(self, raw: str) -> list[str]:
        out = []
        for piece in raw.split(" "):
            piece = SHORTHAND.get(piece, piece)
            # Keep punctuation attached to the word ('batting?'), correct only the letters.
            m = re.fullmatch(r"([^a-z0-9]*)([a-z]+)([^a-z0-9]*)", piece)
            if m and m.group(2) in SHORTHAND:
                piece = m.group(1) + SHORTHAND[m.group(2)] + m.group(3)
                m = re.fullmatch(r"([^a-z0-9]*)([a-z]+)([^a-z0-9]*)", piece)
            if m and len(m.group(2)) >= 4:
                out.append(m.group(1) + self.corrector.correct(m.group(2)) + m.group(3))
            else:
                out.append(piece)
        return out

    # -- routing ---------------------------------------------------------------------------------------

    def route(self, question: str, history: list[dict[str, Any]] | None = None) -> RouteDecision:
        refusal = safety.refusal_for(question)
        if refusal:
            return RouteDecision(refusal=refusal)
        history = history or []
        previous = _previous_call(history)
        pending = _pending_options(history)

        parsed = self.parse(question)
        if safety.is_off_topic(question) and not P_DOMAIN.search(parsed.text):
            return RouteDecision(refusal=safety.REFUSE_OFF_TOPIC)
        if pending:
            picked = _pick_option(parsed.text, pending, [call.get("label", "") for call in pending])
            if picked is not None:
                return _decision(picked["tool"], picked["arguments"])

        if parsed.row_ref is not None and not parsed.customers:
            picked = _row_from_thread(history, parsed)
            if picked is not None:
                return picked

        if parsed.rows:
            paged = self._page(parsed, previous)
            if paged is not None:
                return paged

        if previous and P_MORE.search(parsed.text) and "offset" in TOOL_INPUTS[previous["tool"]].model_fields:
            args = dict(previous["arguments"])
            step = args.get("limit", TOOL_INPUTS[previous["tool"]].model_fields["limit"].default)
            args["offset"] = args.get("offset", 0) + step
            return _decision(previous["tool"], args)

        fresh = self._classify(parsed)
        followup = bool(previous) and (
            bool(P_FOLLOWUP_START.search(parsed.text)) or bool(P_REFERENTIAL.search(parsed.text))
        )
        if followup:
            assert previous is not None
            if fresh is not None and fresh.tool is not None and not _only_slot_change(parsed):
                return _carry_over(fresh, previous)
            merged = _merge(previous, parsed)
            if merged is not None:
                return merged
        if fresh is not None:
            return fresh
        if safety.is_off_topic(question) or not P_DOMAIN.search(parsed.text):
            if previous and _has_any_slot(parsed):
                merged = _merge(previous, parsed)
                if merged is not None:
                    return merged
            # Clearly off-topic ('weather?', 'tell me a joke') gets a polite no; anything else
            # ('hi', 'show me everything') the menu of what the bot can do. A store word next to
            # an off-topic one ('how did the Rain collection sell?') is not off-topic.
            if safety.is_off_topic(question) and not P_DOMAIN.search(parsed.text):
                return RouteDecision(refusal=safety.REFUSE_OFF_TOPIC)
        if previous and _has_any_slot(parsed):
            merged = _merge(previous, parsed)
            if merged is not None:
                return merged
        return _general_clarification()

    def _page(self, p: Parsed, previous: dict[str, Any] | None) -> RouteDecision | None:
        """'customers 11-20': that page of the list the question (or else the thread) ranks."""
        assert p.rows is not None
        offset, size = p.rows
        fresh = self._classify(p)
        pageable = fresh is not None and fresh.tool is not None and "offset" in TOOL_INPUTS[fresh.tool].model_fields
        if previous and "offset" in TOOL_INPUTS[previous["tool"]].model_fields and (
                fresh is None or fresh.tool is None or fresh.tool == previous["tool"]):
            # The thread's list, paged: its ranking and filters stay unless the question names others.
            args = {k: v for k, v in previous["arguments"].items() if k != "offset"}
            if pageable:
                args.update(fresh.arguments)
            return _decision(previous["tool"], dict(args, offset=offset, limit=size))
        if pageable:
            assert fresh is not None and fresh.tool is not None
            return _decision(fresh.tool, dict(fresh.arguments, offset=offset, limit=size))
        return None

    def _classify(self, p: Parsed) -> RouteDecision | None:
        t = p.text
        seg = p.segments[0] if p.segments else None

        if p.customers:
            if P_RECS.search(t) or re.search(r"\b(discount|offer|compensat\w*|coupon|perk)\b", t):
                return _decision("get_recommendations", {"customer": p.customers[0]})
            return _decision("lookup_customer", {"customer": p.customers[0]})

        archetype_words = bool(p.archetype)
        if P_CAMPAIGN.search(t) and not (P_PRODUCTS.search(t) and not P_CUSTOMER_LIST.search(t)):
            campaign = p.campaign
            if campaign is None and P_RECENCY.search(t):
                campaign = "win_back"
            if campaign is None:
                return _clarify(
                    "Which kind of campaign?", [
                        ("retention (active but at risk)", "target_campaign", {"campaign": "retention"}),
                        ("win-back (lapsed customers)", "target_campaign", {"campaign": "win_back"}),
                        ("upsell (growing buyers)", "target_campaign", {"campaign": "upsell"}),
                        ("VIP (most valuable)", "target_campaign", {"campaign": "vip"}),
                        ("seasonal (holiday buyers)", "target_campaign", {"campaign": "seasonal"}),
                    ], extra=slots.as_dict(segment=seg, archetype=p.archetype, min_value=p.money, limit=p.limit))
            return _decision("target_campaign", slots.as_dict(
                campaign=campaign, segment=seg, archetype=p.archetype, min_value=p.money, limit=p.limit))

        behaviour = None
        if P_DISCOUNT_DEP.search(t) and not archetype_words:
            behaviour = "discount_dependency"
        elif P_ONE_TIME.search(t) and not archetype_words:
            behaviour = "one_time_buyers"
        elif P_DECLINING.search(t) and not P_FORECAST.search(t):
            behaviour = "declining"
        elif P_MOVES.search(t) and not P_COMPARE.search(t):
            behaviour = "segment_moves"
        if behaviour and (p.segments or p.archetype) and (P_DETAIL.search(t) or P_DESCRIBE.search(t)):
            behaviour = None  # 'deep dive on discount driven' names a segment, not a behaviour
        if behaviour and not P_RECS.search(t):
            return _decision("analyze_behavior", slots.as_dict(
                focus=behaviour, days_ago=p.days_ago, segment=seg, limit=p.limit))

        if P_RECS.search(t):
            return _decision("get_recommendations", slots.as_dict(segment=seg if not p.archetype else None,
                                                                 archetype=p.archetype))

        customer_list = bool(P_CUSTOMER_LIST.search(t))
        if P_FORECAST.search(t) and not P_PREDICTED.search(t) and not (
                customer_list and (P_CHURN.search(t) or P_VALUE.search(t)) and not p.metric):
            if not (customer_list and re.search(r"\bwho\b|\bwhich customers\b", t)):
                horizon, unit = p.horizon or (90, "days")
                return _decision("forecast_metrics", {"metric": p.metric or "revenue", "horizon": horizon, "unit": unit})

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
            decision = self._segments(p)
            if decision is not None:
                return decision

        if customer_list or P_CHURN.search(t) or P_VALUE.search(t) or P_RECENCY.search(t) or P_FREQUENCY.search(t) \
                or p.risk_level or p.value_tier or P_PREDICTED.search(t):
            return self._customers(p, seg)

        if re.search(r"\b(revenue|sales|turnover|aov|average order value)\b", t) and (p.horizon or P_FORECAST.search(t)):
            horizon, unit = p.horizon or (90, "days")
            return _decision("forecast_metrics", {"metric": p.metric or "revenue", "horizon": horizon, "unit": unit})
        if re.search(r"\b(revenue|sales|turnover)\b", t) and p.period:
            return _decision("analyze_products", {"group_by": "category", "sort_by": "revenue", "period": p.period})
        return None

    def _products(self, p: Parsed, seg: str | None) -> RouteDecision:
        t = p.text
        sort_by = next((name for name, rx in PRODUCT_SORTS if re.search(rx, t)), "revenue")
        by_product = bool(re.search(r"\b(products?|skus?|items?|best[- ]?sellers?|best[- ]?selling|top[- ]?selling|bought together|buy together)\b", t)) \
            and not re.search(r"\bcategor(y|ies)\b", t)
        category = None
        if p.categories and not (p.bought_with and p.categories[0].lower() in p.bought_with.lower()):
            category = p.categories[0]
            # 'best batting products': products within the category
            by_product = True if not re.search(r"\bcategor(y|ies)\b", t) else by_product
        return _decision("analyze_products", slots.as_dict(
            group_by="product" if (by_product or p.bought_with) else "category", sort_by=sort_by, category=category,
            bought_with=p.bought_with, segment=seg if not p.archetype else None, archetype=p.archetype,
            period=p.period, limit=p.limit))

    def _segments(self, p: Parsed) -> RouteDecision | None:
        t = p.text
        if P_COMPARE.search(t) and len(p.segments) >= 2:
            return _decision("analyze_segments", {"mode": "compare", "segment": p.segments[0], "other_segment": p.segments[1]})
        if P_CHANGES.search(t) and P_SEGMENTS.search(t) and not p.segments:
            return _decision("analyze_segments", slots.as_dict(mode="changes", days_ago=p.days_ago))
        customer_list = bool(re.search(r"\b(customers|who|which|people|shoppers|buyers|list|members|ones)\b", t))
        # 'replenishers at risk': churn is about customers, so a named group + churn words lists them.
        if (p.archetype or p.segments) and (((P_CHURN.search(t) or p.risk_level) and not P_DESCRIBE.search(t)) or (
                (P_VALUE.search(t) or p.value_tier) and customer_list)):
            return self._customers(p, p.segments[0] if p.segments else None)
        if p.archetype:
            return _decision("segment_info", {"name": p.archetype})
        if p.segments:
            if P_DETAIL.search(t) or re.search(r"\bhow (?:is|are|big|large|many)\b|\bsize\b|\bdoing\b", t):
                return _decision("analyze_segments", {"mode": "detail", "segment": p.segments[0]})
            return _decision("segment_info", {"name": p.segments[0]})
        if P_ARCHETYPE.search(t) and not P_SEGMENTS.search(t):
            return _decision("segment_info", {})
        if P_SEGMENTS.search(t):
            return _decision("analyze_segments", slots.as_dict(mode="overview", axis=p.axis))
        return None

    def _customers(self, p: Parsed, seg: str | None) -> RouteDecision:
        t = p.full_text
        if P_PREDICTED.search(t):
            sort_by = "predicted_value"
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
            return _clarify("How should I rank the customers?", [
                ("by churn risk", "analyze_customers", {"sort_by": "churn_risk"}),
                ("by lifetime value", "analyze_customers", {"sort_by": "value"}),
                ("by predicted value (next 12 months)", "analyze_customers", {"sort_by": "predicted_value"}),
                ("longest since last order", "analyze_customers", {"sort_by": "recency"}),
                ("by number of orders", "analyze_customers", {"sort_by": "frequency"}),
            ], extra=extra)
        if seg and seg.split(":")[0] == {"frequency": "frequency", "value": "value"}.get(sort_by):
            seg = None  # 'most frequent buyers' ranks by frequency; it does not filter a segment
        return _decision("analyze_customers", slots.as_dict(
            sort_by=sort_by, segment=seg if not p.archetype else None, archetype=p.archetype,
            value_tier=p.value_tier, risk_level=p.risk_level, min_value=p.money, limit=p.limit))


# --- decisions, clarifications and follow-ups --------------------------------------------------------

def _decision(tool: str, arguments: dict[str, Any]) -> RouteDecision:
    """A decision whose arguments the tool's input model accepts; otherwise a clarification
    naming the offending value (the tool itself would reject it the same way)."""
    model = TOOL_INPUTS[tool]
    if tool == "forecast_metrics" and isinstance(arguments.get("horizon"), int):
        # The input allows 730 of any unit; the tool reaches two years ('forecast for 2027').
        unit = arguments.get("unit", "days")
        most = FORECAST_MAX.get(unit)
        if most is not None and arguments["horizon"] > most:
            return _clarify(f"A forecast reaches at most two years ({most} {unit}; you asked for "
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
    bounds = {type(m).__name__: m for m in getattr(TOOL_INPUTS[tool].model_fields.get(field), "metadata", [])}
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
    return _clarify(f"The {field.replace('_', ' ')} can be at most {limit} (you asked for {value:g})."
                    if limit < value else
                    f"The {field.replace('_', ' ')} must be at least {limit} (you asked for {value:g}).",
                    [(f"use {limit} instead", tool, fixed)])


def _clarify(question: str, options: list[tuple[str, str, dict[str, Any]]], extra: dict[str, Any] | None = None) -> RouteDecision:
    calls = []
    for label, tool, args in options:
        merged = dict(args)
        for key, value in (extra or {}).items():
            if key in TOOL_INPUTS[tool].model_fields:
                merged.setdefault(key, value)
        calls.append({"tool": tool, "arguments": merged, "label": label})
    return RouteDecision(clarification=Clarification(question=question, options=[o[0] for o in options]),
                         option_calls=calls)


def _general_clarification() -> RouteDecision:
    return _clarify("I'm not sure what you'd like to see. Which of these?", [
        ("customers most at risk of churning", "analyze_customers", {"sort_by": "churn_risk"}),
        ("top customers by lifetime value", "analyze_customers", {"sort_by": "value"}),
        ("segments overview", "analyze_segments", {"mode": "overview"}),
        ("best-selling categories", "analyze_products", {"group_by": "category"}),
        ("revenue forecast for the next 90 days", "forecast_metrics", {"metric": "revenue", "horizon": 90, "unit": "days"}),
    ])


def _previous_call(history: list[dict[str, Any]]) -> dict[str, Any] | None:
    for turn in reversed(history):
        for call in turn.get("tool_calls") or []:
            if call.get("tool") in TOOL_INPUTS:
                return {"tool": call["tool"], "arguments": dict(call.get("arguments") or {})}
    return None


def _pending_options(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The calls behind the options of a clarification asked in the last turn (each with its label)."""
    if history and history[-1].get("option_calls") and not history[-1].get("tool_calls"):
        return list(history[-1]["option_calls"])
    return []


def _pick_option(text: str, options: list[dict[str, Any]], labels: list[str] | None = None) -> dict[str, Any] | None:
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


def _row_from_thread(history: list[dict[str, Any]], p: Parsed) -> RouteDecision | None:
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
        return _decision("get_recommendations", {"customer": customer})
    return _decision("lookup_customer", {"customer": customer})


def _has_any_slot(p: Parsed) -> bool:
    return any([p.segments, p.archetype, p.categories, p.money is not None, p.limit, p.period, p.horizon,
                p.metric, p.risk_level, p.value_tier, p.campaign, p.days_ago])


def _only_slot_change(p: Parsed) -> bool:
    """'same for last quarter', 'what about orders': the question changes a slot, not the tool."""
    # 'only the vips' / 'just the critical ones' narrow the list the thread is about: the
    # ranking and the other filters stay as they were.
    return bool(re.search(r"\b(same|instead|what about|how about|and for|now for|but for|only|just|again)\b", p.text)) \
        and not re.search(r"\b(forecast|campaign|segments|archetypes?|products?|categor\w+|recommend\w*)\b", p.text)


def _changes_for(tool: str, p: Parsed) -> dict[str, Any]:
    fields = TOOL_INPUTS[tool].model_fields
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


def _merge(previous: dict[str, Any], p: Parsed) -> RouteDecision | None:
    changes = _changes_for(previous["tool"], p)
    if not changes:
        return None
    args = dict(previous["arguments"])
    args.pop("offset", None)
    args.update(changes)
    return _decision(previous["tool"], args)


def _carry_over(fresh: RouteDecision, previous: dict[str, Any]) -> RouteDecision:
    """'and which of them bought batting?': a new tool, narrowed to the group the thread was about."""
    assert fresh.tool is not None
    fields = TOOL_INPUTS[fresh.tool].model_fields
    if fresh.tool == previous["tool"]:
        # 'now just the whales': the same list, narrowed.
        args = {k: v for k, v in previous["arguments"].items() if k != "offset"}
        args.update(fresh.arguments)
        return _decision(fresh.tool, args)
    args = dict(fresh.arguments)
    for key in ("segment", "archetype"):
        if key in fields and key not in args and previous["arguments"].get(key):
            args[key] = previous["arguments"][key]
    return _decision(fresh.tool, args)
