"""Slot extraction for the offline router: customer ids, money, limits, periods and horizons,
metrics, risk levels, value tiers, campaign types, segments, archetypes and categories.

Every function reads the normalised question (see `normalise`) and returns values in the exact
form the tools' input models accept (e.g. periods in `inputs.PERIOD_HELP`'s grammar).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from analytics.items import category_parts

# --- normalisation --------------------------------------------------------------------------------

_QUOTES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"', "\u2013": "-", "\u2014": "-"})
_TOKEN = re.compile(r"[a-z0-9$£€]+(?:['.,:-][a-z0-9]+)*'?|[?]")


def normalise(question: str) -> str:
    return " ".join(question.translate(_QUOTES).lower().split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text)


def stem(word: str) -> str:
    """A crude singular: enough to match 'bargain hunter' with 'bargain hunters'."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if len(word) > 3 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


# --- numbers ---------------------------------------------------------------------------------------

NUMBER_WORDS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
    "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20, "thirty": 30, "fifty": 50,
    "hundred": 100, "a dozen": 12, "dozen": 12, "a couple": 2, "a few": 5, "a hundred": 100,
}
_NUM = r"(\d[\d,]*(?:\.\d+)?|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True)) + r")"


def to_number(text: str) -> float:
    text = text.strip()
    if text in NUMBER_WORDS:
        return float(NUMBER_WORDS[text])
    return float(text.replace(",", ""))


# --- customers -------------------------------------------------------------------------------------

_PUBLIC_ID = re.compile(r"\bc-?([0-9a-f]{8})\b")
_STORE_ID_AFTER_WORD = re.compile(
    r"\b(?:customer|cust|client|shopper|buyer|account|id|acct|no\.?|number|#)\s*(?:id\s*)?(?:#|no\.?)?\s*"
    r"([a-z]*\d[\w-]{2,30})\b"
)
_HASH_ID = re.compile(r"#\s*([a-z]*\d[\w-]{2,30})\b")
_BARE_ID = re.compile(r"(?<![\w$£€.,-])(\d{5,9})(?![\w%,.]|\s*(?:k\b|days?|weeks?|months?|years?|dollars|bucks|usd|gbp|eur|€|£|"
                      r"customers|people|buyers|clients|shoppers|orders|products|items|units|rows))")


def customer_ids(text: str) -> list[str]:
    """Pseudonymous ids (normalised to 'C-XXXXXXXX') and store ids, in order of appearance."""
    found: list[tuple[int, str]] = []
    for m in _PUBLIC_ID.finditer(text):
        found.append((m.start(), "C-" + m.group(1).upper()))
    taken = [range(m.start(), m.end()) for m in _PUBLIC_ID.finditer(text)]

    def free(pos: int) -> bool:
        return not any(pos in r for r in taken)

    for pattern in (_STORE_ID_AFTER_WORD, _HASH_ID, _BARE_ID):
        for m in pattern.finditer(text):
            value = m.group(1)
            if not free(m.start(1)) or _looks_like_year(value) or _PUBLIC_ID.fullmatch(value):
                continue
            if value in {v for _, v in found}:
                continue
            found.append((m.start(1), value.upper() if not value.isdigit() else value))
            taken.append(range(m.start(1), m.end(1)))
    return [value for _, value in sorted(found)]


def _looks_like_year(value: str) -> bool:
    return value.isdigit() and len(value) == 4 and 1990 <= int(value) <= 2040


# --- money, limits, numbers --------------------------------------------------------------------------

_MONEY_SIGNED = re.compile(r"(?:[$£€]\s*" + r"(\d[\d,]*(?:\.\d+)?)\s*(k|m|grand)?\b\+?|(\d[\d,]*(?:\.\d+)?)\s*(k|grand)\b\+?|"
                           r"(\d[\d,]*(?:\.\d+)?)\s*(?:dollars|bucks|usd|gbp|eur|pounds|euros))")
_MONEY_AFTER = re.compile(
    r"\b(?:over|above|more than|at least|min(?:imum)?(?: of)?|greater than|exceeding|upwards of|north of|"
    r"spent|spend|spending|worth|ltv|clv|lifetime value(?: of| over| above)?|value (?:over|above|of))\s*"
    r"(?:>=?\s*)?[$£€]?\s*(\d[\d,]*(?:\.\d+)?)\s*(k|m|grand)?\b(?!\s*(?:days?|weeks?|months?|years?|orders?|customers?|%))"
)
_MONEY_GT = re.compile(r">=?\s*[$£€]?\s*(\d[\d,]*(?:\.\d+)?)\s*(k|m)?\b")
_SCALE = {"k": 1_000, "grand": 1_000, "m": 1_000_000}


def money(text: str) -> float | None:
    """A minimum amount of money: '$1k', 'over 500', 'spent more than 2,000', '£750+'."""
    for pattern in (_MONEY_AFTER, _MONEY_GT):
        m = pattern.search(text)
        if m:
            return to_number(m.group(1)) * _SCALE.get(m.group(2) or "", 1)
    m = _MONEY_SIGNED.search(text)
    if m:
        if m.group(1):
            return to_number(m.group(1)) * _SCALE.get(m.group(2) or "", 1)
        if m.group(3):
            return to_number(m.group(3)) * _SCALE.get(m.group(4) or "", 1)
        return to_number(m.group(5))
    return None


_LIMIT_PATTERNS = (
    re.compile(r"\b(?:top|first|best|worst|biggest|largest|highest|lowest|bottom|riskiest|show(?: me)?|list|give me|get me|pull|find)\s+(?:the\s+)?"
               + _NUM + r"\b(?!\s*(?:days?|weeks?|months?|years?|%|k\b|dollars))"),
    re.compile(r"\b" + _NUM + r"(?![\s-]+(?:time|off)\b)\s+(?:[\w-]+\s+){0,2}?(?:customers|people|buyers|clients|shoppers|accounts|products|categories|items|"
               r"skus|names|rows|folks|whales|vips|segments|archetypes)\b"),
)


def limit(text: str) -> int | None:
    for pattern in _LIMIT_PATTERNS:
        for m in pattern.finditer(text):
            value = to_number(m.group(1))
            start = m.start(1)
            # '$500 customers' is money, '2010 customers' a year.
            if text[max(0, start - 1):start] in "$£€" and start > 0:
                continue
            if value.is_integer() and 1 <= value <= 1_000_000 and not _looks_like_year(m.group(1)):
                return int(value)
    return None


# 'customers 11-20', 'rows 21 to 30', 'results 31 through 40': a page of a ranked list.
_ROW_RANGE = re.compile(r"\b(?:customers?|clients?|buyers|shoppers|people|rows?|results?|entries|ones|numbers?|nos?\.?|#)\s*"
                        r"#?(\d{1,7})\s*(?:-|to|through|thru|until|\.\.)\s*#?(\d{1,7})\b(?!-\d)")


def row_range(text: str) -> tuple[int, int] | None:
    """A page of a ranked list as (offset, limit): 'customers 11-20' -> (10, 10)."""
    m = _ROW_RANGE.search(text)
    if not m:
        return None
    first, last = int(m.group(1)), int(m.group(2))
    # '2023-2024' is a span of years, and a range that runs backwards is not a page.
    if first < 1 or last < first or (_looks_like_year(m.group(1)) and _looks_like_year(m.group(2))):
        return None
    return first - 1, last - first + 1


_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
             "eighth": 8, "ninth": 9, "tenth": 10}
_ROW_NOUN = r"(?:one|customer|client|buyer|shopper|person|guy|row|entry|result|account|on the list|in the list)"
_ROW_REF = (
    re.compile(r"\b(?:the\s+)?(" + "|".join(_ORDINALS) + r")\s+" + _ROW_NOUN + r"\b"),
    re.compile(r"\b(?:the\s+)?(\d{1,3})(?:st|nd|rd|th)\s+" + _ROW_NOUN + r"\b"),
    re.compile(r"(?:^|\s)#\s*(\d{1,3})\b(?![\w-])"),
    re.compile(r"\b(?:number|no\.?|row)\s+(\d{1,3})\b(?![\w-])"),
)


def row_reference(text: str) -> int | None:
    """Which row of the list the thread just showed a question points at, 1-based:
    'the first one', 'the 3rd customer', '#2', 'number 4'."""
    for pattern in _ROW_REF:
        m = pattern.search(text)
        if m:
            value = m.group(1)
            index = _ORDINALS[value] if value in _ORDINALS else int(value)
            return index if index >= 1 else None
    return None


# --- periods (past) and horizons (future) -----------------------------------------------------------

MONTHS = {name: i for i, name in enumerate(
    ["january", "february", "march", "april", "may", "june", "july", "august", "september",
     "october", "november", "december"], start=1)}
MONTHS.update({name[:3]: i for name, i in list(MONTHS.items())})
MONTHS["sept"] = 9
_MONTH_RE = r"(" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")"
_UNIT = {"day": "days", "days": "days", "week": "weeks", "weeks": "weeks", "month": "months",
         "months": "months", "year": "years", "years": "years", "wk": "weeks", "wks": "weeks",
         "mo": "months", "mos": "months", "d": "days"}

_LAST_N = re.compile(r"\b(?:last|past|previous|prior|trailing|over the last|in the last)\s+" + _NUM
                     + r"\s*(days?|weeks?|wks?|months?|mos?|years?)\b")
_QUARTER = re.compile(r"\b(?:q([1-4])(?:\s*(?:of\s*)?'?((?:19|20)?\d\d))?|((?:19|20)\d\d)\s*-?\s*q([1-4]))\b")
_NAMED_QUARTER = re.compile(r"\b(first|second|third|fourth|1st|2nd|3rd|4th|last) quarter(?: of)?\s*((?:19|20)\d\d)?\b")
_ISO_DATE = r"((?:19|20)\d\d-\d\d-\d\d)"
_RANGE = re.compile(r"\b(?:from|between)?\s*" + _ISO_DATE + r"\s*(?:to|and|until|through|-|\.\.)\s*" + _ISO_DATE)
_SINCE_DATE = re.compile(r"\bsince\s+" + _ISO_DATE)
_SINCE_MONTH = re.compile(r"\bsince\s+" + _MONTH_RE + r"\b(?:\s+((?:19|20)\d\d))?")
_MONTH = re.compile(r"\b(?:in|during|for|of|over|last|this)\s+" + _MONTH_RE + r"\b(?:\s*,?\s*((?:19|20)\d\d))?")
_ISO_MONTH = re.compile(r"\b((?:19|20)\d\d)-(0[1-9]|1[0-2])\b(?!-\d)")
_YEAR = re.compile(r"\b(?:in|during|for|of|over|year|since)\s+((?:19|20)\d\d)\b(?!-\d)|^((?:19|20)\d\d)$")
_ORDINAL_Q = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3, "fourth": 4, "4th": 4}


def _last_completed_or_current(anchor: date, quarter: int) -> int:
    """The year of the most recent quarter `quarter` that has started by the anchor date."""
    start_month = 3 * (quarter - 1) + 1
    return anchor.year if (anchor.month >= start_month) else anchor.year - 1


def _year(text: str | None, anchor: date) -> int | None:
    if not text:
        return None
    value = int(text)
    return value + 2000 if value < 100 else value


def period(text: str, anchor: date) -> str | None:
    """A past window in the tools' period grammar, relative to the data's latest date (anchor)."""
    m = _RANGE.search(text)
    if m:
        return f"{m.group(1)}..{m.group(2)}"
    m = _SINCE_DATE.search(text)
    if m:
        return f"{m.group(1)}..{anchor.isoformat()}"
    m = _LAST_N.search(text)
    if m:
        n = int(to_number(m.group(1)))
        unit = _UNIT[m.group(2)]
        return f"last_{n}_{unit}"
    if re.search(r"\b(last|past|previous|prior) quarter\b|\bq-1\b", text):
        return "last_quarter"
    if re.search(r"\b(this|current) quarter\b|\bqtd\b|\bquarter to date\b", text):
        q = (anchor.month - 1) // 3 + 1
        return f"{anchor.year}-Q{q}"
    m = _NAMED_QUARTER.search(text)
    if m and m.group(1) != "last":
        q = _ORDINAL_Q[m.group(1)]
        year = _year(m.group(2), anchor) or _last_completed_or_current(anchor, q)
        return f"{year}-Q{q}"
    m = _QUARTER.search(text)
    if m:
        if m.group(1):
            q = int(m.group(1))
            year = _year(m.group(2), anchor) or _last_completed_or_current(anchor, q)
        else:
            q, year = int(m.group(4)), int(m.group(3))
        return f"{year}-Q{q}"
    if re.search(r"\b(this|current) year\b|\bytd\b|\byear to date\b|\bso far this year\b", text):
        return "this_year"
    if re.search(r"\b(last|past|previous) year\b|\blast 12 months\b", text):
        return "last_year"
    if re.search(r"\b(last|past|previous) week\b", text):
        return "last_7_days"
    if re.search(r"\b(last|past|previous) month\b", text):
        first = anchor.replace(day=1) - timedelta(days=1)
        return f"{first.year}-{first.month:02d}"
    if re.search(r"\b(this|current) month\b|\bmtd\b|\bmonth to date\b", text):
        return f"{anchor.year}-{anchor.month:02d}"
    if re.search(r"\b(holiday season|the holidays|christmas|xmas|black friday|bfcm)\b", text):
        year = anchor.year if anchor.month >= 11 else anchor.year - 1
        return f"{year}-11-01..{year}-12-31"
    m = _SINCE_MONTH.search(text)
    if m:
        month = MONTHS[m.group(1)]
        year = _year(m.group(2), anchor) or (anchor.year if anchor.month >= month else anchor.year - 1)
        return f"{year}-{month:02d}-01..{anchor.isoformat()}"
    m = _MONTH.search(text)
    if m and not (m.group(1) == "may" and not m.group(2)):  # 'may' is usually the verb
        month = MONTHS[m.group(1)]
        year = _year(m.group(2), anchor) or (anchor.year if anchor.month >= month else anchor.year - 1)
        return f"{year}-{month:02d}"
    m = _ISO_MONTH.search(text)
    if m:
        return f"{m.group(1)}-{m.group(2)}"
    m = _YEAR.search(text)
    if m:
        return m.group(1) or m.group(2)
    return None


_NEXT_N = re.compile(r"\b(?:next|coming|upcoming|following|over the next|in the next|for the next)\s+" + _NUM
                     + r"\s*(days?|weeks?|wks?|months?|mos?|years?)\b")
_N_AHEAD = re.compile(r"\b" + _NUM + r"\s*(days?|weeks?|months?|years?)\s+(?:ahead|out|from now|forward)\b")
_NEXT_ONE = {"week": (7, "days"), "month": (1, "months"), "quarter": (3, "months"), "year": (12, "months"),
             "half": (6, "months"), "half year": (6, "months"), "fortnight": (14, "days"),
             "season": (3, "months"), "holiday season": (3, "months")}


_FOR_YEAR = re.compile(r"\b(?:for|in|of|during|through|thru|until|to the end of|over)\s+((?:19|20)\d\d)\b(?!-\d)"
                       r"|\b((?:19|20)\d\d)\b(?!-\d)(?:'s)?\s+(?:forecast|revenue|sales|orders|outlook|projection)")
_NEXT_CALENDAR_YEAR = re.compile(r"\b(?:for|in|of|during|through|until)\s+next (?:calendar )?year\b|\bnext (?:calendar )?year'?s\b"
                                 r"|\bnext calendar year\b")


def year_horizon(text: str, anchor: date, *, current_year: bool = True) -> tuple[int, str] | None:
    """A forecast to the end of a calendar year ('for 2025', 'for next year'), counted from the
    data's latest day: whole months when that day ends a month (12 from 2024-12-31 to the end of
    2025), days otherwise. None when the question names no year still ahead of the data, or
    names the data's own year and `current_year` is off ('sales in 2024' is mostly the past)."""
    m = _FOR_YEAR.search(text)
    if m:
        year = int(m.group(1) or m.group(2))
    elif _NEXT_CALENDAR_YEAR.search(text):
        year = anchor.year + 1
    else:
        return None
    end = date(year, 12, 31)
    if end <= anchor or (year == anchor.year and not current_year):
        return None
    if (anchor + timedelta(days=1)).day == 1:
        return (year - anchor.year) * 12 + (12 - anchor.month), "months"
    return (end - anchor).days, "days"


def horizon(text: str, anchor: date | None = None, *, current_year: bool = True) -> tuple[int, str] | None:
    """A future window for forecasts as (horizon, unit): 'next quarter' -> (3, 'months');
    with the data's latest day, 'for 2025' -> the months (or days) to the end of 2025."""
    if anchor is not None:
        to_year_end = year_horizon(text, anchor, current_year=current_year)
        if to_year_end is not None:
            return to_year_end
    for pattern in (_NEXT_N, _N_AHEAD):
        m = pattern.search(text)
        if m:
            n = int(to_number(m.group(1)))
            unit = _UNIT[m.group(2)]
            if unit == "years":
                return n * 12, "months"
            return n, unit
    m = re.search(r"\b(?:next|coming|upcoming|following|rest of the)\s+(half year|holiday season|week|month|quarter|year|half|fortnight|season)\b", text)
    if m:
        return _NEXT_ONE[m.group(1)]
    m = re.search(r"\b(?:in|within)\s+" + _NUM + r"\s*(days?|weeks?|months?)\b", text)
    if m:
        return int(to_number(m.group(1))), _UNIT[m.group(2)]
    if re.search(r"\btomorrow\b", text):
        return 1, "days"
    if re.search(r"\bthis (coming )?christmas\b|\bholidays\b", text):
        return 3, "months"
    return None


# --- categorical slots -------------------------------------------------------------------------------

METRICS = (
    ("average_order_value", r"\b(aov|average order(?: value| size)?|avg order(?: value)?|basket size|order value|average basket|avg basket|average spend per order)\b"),
    ("active_customers", r"\b(active (?:customers|buyers|shoppers|users|clients)|customer count|number of customers|how many customers|customers? (?:will|going to) (?:buy|order|shop))\b"),
    ("orders", r"\b(orders|order count|order volume|number of orders|how many orders|transactions|purchases|checkouts)\b"),
    ("revenue", r"\b(revenue|sales|turnover|income|takings|money|gmv|top ?line|earnings|make|bring in)\b"),
)


def metric(text: str) -> str | None:
    for name, pattern in METRICS:
        if re.search(pattern, text):
            return name
    return None


def risk_level(text: str) -> str | None:
    m = re.search(r"\b(critical|high|medium|moderate|low|severe|extreme)(?:[ -]|\s+churn\s+)risk\b|\brisk(?: level)?(?: is| =|:)?\s*(critical|high|medium|low)\b|\b(critical|critically)\b", text)
    if not m:
        return None
    word = next(g for g in m.groups() if g)
    return {"moderate": "medium", "severe": "critical", "extreme": "critical", "critically": "critical"}.get(word, word)


def value_tier(text: str) -> str | None:
    if re.search(r"\bwhales?\b", text):
        return "whale"
    if re.search(r"\bvips?\b(?! campaign)", text) and not re.search(r"\bvip (campaign|program|promo)", text):
        return "vip"
    if re.search(r"\bhigh[- ]value\b|\bhigh tier\b|\bhigh[- ]spend", text):
        return "high"
    if re.search(r"\bregular (customers|tier|buyers|shoppers)\b|\bregular tier\b", text):
        return "regular"
    if re.search(r"\b(new|newest|brand new|recent first[- ]time|newly acquired) (customers|buyers|shoppers|signups|tier)\b|\bnew tier\b", text):
        return "new"
    return None


CAMPAIGNS = (
    ("win_back", r"\b(win[- ]?backs?|winback|won back|reactivat\w*|re-?engag\w*|lapsed|bring (?:them |back |\w+ back)|come back|came back|dormant|lost customers|wake up)\b"),
    ("seasonal", r"\b(seasonal|holiday|christmas|xmas|black friday|cyber monday|bfcm|valentine'?s?|easter|mother'?s day|halloween|thanksgiving|back to school)\b"),
    ("upsell", r"\b(upsell\w*|up-sell\w*|cross[- ]?sell\w*|upgrade|spend more|bigger baskets?|grow (?:their )?spend|increase (?:basket|order value))\b"),
    ("vip", r"\b(vips?|loyalty|reward\w*|best customers|top customers|thank[- ]you|appreciation|exclusive)\b"),
    ("retention", r"\b(retention|retain|keep (?:them|customers)|stop (?:them )?(?:from )?churn\w*|prevent churn|save|at[- ]risk|churn\w*)\b"),
)


def campaign(text: str) -> str | None:
    for name, pattern in CAMPAIGNS:
        if re.search(pattern, text):
            return name
    return None


AXIS_WORDS = {
    "frequency": "frequency", "frequent": "frequency", "how often": "frequency",
    "value": "value", "spend": "value",
    "exploration": "exploration", "explore": "exploration", "variety": "exploration", "breadth": "exploration",
    "price sensitivity": "price_sensitivity", "price_sensitivity": "price_sensitivity", "price sensitive": "price_sensitivity",
    "discount": "price_sensitivity",
    "cadence": "cadence", "timing": "cadence", "weekend": "cadence",
    "maturity": "maturity", "tenure": "maturity",
    "repurchase": "repurchase", "repeat": "repurchase", "loyalty": "repurchase",
    "returns": "returns", "return": "returns", "refunds": "returns",
}


def axis(text: str) -> str | None:
    """An axis named explicitly next to the word 'axis' or 'segments' ('the cadence segments')."""
    m = re.search(r"\b(frequency|value|exploration|price[ _]sensitivity|cadence|maturity|repurchase|returns)\b"
                  r"(?:\s+(?:axis|segments?|clusters?|groups?|dimension))", text)
    if m:
        return m.group(1).replace(" ", "_")
    m = re.search(r"\b(?:axis|segments? (?:by|on|for)|split by|grouped by|by)\s+(frequency|value|exploration|price[ _]sensitivity|cadence|maturity|repurchase|returns)\b", text)
    if m:
        return m.group(1).replace(" ", "_")
    return None


def days_ago(text: str) -> int | None:
    """How far back to compare runs: 7, 14 or 28 days (the tools' choices)."""
    if re.search(r"\b(two|2) weeks?\b|\bfortnight\b|\b14 days\b", text):
        return 14
    if re.search(r"\b(four|4) weeks?\b|\b(a|last|past|this|one|1) month\b|\b(28|30|31) days\b|\bmonthly\b|\bmonth ago\b", text):
        return 28
    if re.search(r"\b(a|last|past|this|one|1) week\b|\b7 days\b|\bweekly\b|\bweek ago\b|\bsince monday\b", text):
        return 7
    return None


# --- vocabulary from the store (segments, archetypes, categories) -------------------------------------

@dataclass
class Vocabulary:
    """Names that exist in the current discovery run and catalogue, so the offline router can
    recognise them in a question. Built from the database (see memory/router queries) or by tests."""

    segments: list[tuple[str, str]] = field(default_factory=list)    # (axis, name)
    archetypes: list[tuple[str, str]] = field(default_factory=list)  # (archetype_id, name)
    categories: list[str] = field(default_factory=list)
    anchor: date = field(default_factory=date.today)                 # latest date in the data
    run_id: int | None = None

    def __post_init__(self) -> None:
        self._segment_keys = [(_key(name), (ax, name)) for ax, name in self.segments]
        self._archetype_keys = [(_key(name), (aid, name)) for aid, name in self.archetypes]
        self._archetype_keys += [(_key(name.removeprefix("the ")), (aid, name)) for aid, name in self.archetypes
                                 if name.lower().startswith("the ")]
        # A category is also named by a part of its name ('pre-cuts' for 'Pre-cuts & Fat Quarters').
        self._category_keys = list(dict.fromkeys((_key(part), name) for name in self.categories
                                                 for part in category_parts(name)))

    def words(self) -> set[str]:
        """Every word of every name: known words the typo corrector must not 'fix'."""
        out: set[str] = set()
        for name in [n for _, n in self.segments] + [n for _, n in self.archetypes] + self.categories:
            out.update(tokens(name.lower().replace("_", " ")))
        return out


def _key(name: str) -> tuple[str, ...]:
    return tuple(stem(t) for t in tokens(name.lower().replace("_", " ").replace("-", " ")) if t not in {"&", "and"})


def _find(needle: tuple[str, ...], hay: list[str]) -> int:
    n = len(needle)
    if not n:
        return -1
    for i in range(len(hay) - n + 1):
        if tuple(hay[i:i + n]) == needle:
            return i
    return -1


# Names that are also ordinary words in questions (risk levels, tiers): only a segment when the
# question says so ('the high segment', 'value:high').
AMBIGUOUS_SEGMENT_WORDS = {"high", "low", "medium", "new", "regular", "vip", "whale", "critical", "none",
                           "active", "top", "best", "at", "risk", "loyal", "value", "big", "small", "mid"}


_HAY_TOKEN = re.compile(r"[a-z0-9$£€]+(?:['.,][a-z0-9]+)*'?")


def _hay(text: str) -> list[str]:
    return [stem(t) for t in tokens(text.replace("_", " ").replace("-", " ")) if t not in {"&", "and"}]


def _hay_spans(text: str) -> tuple[list[str], list[tuple[int, int]]]:
    """Stemmed words of the text with their character spans ('_' and '-' separate words)."""
    flat = text.replace("_", " ").replace("-", " ")  # same length: spans stay valid for `text`
    words, spans = [], []
    for m in _HAY_TOKEN.finditer(flat):
        if m.group(0) in {"&", "and"}:
            continue
        words.append(stem(m.group(0)))
        spans.append(m.span())
    return words, spans


def segment_matches(text: str, vocab: Vocabulary) -> list[tuple[int, int, str]]:
    """(start, end, 'axis:name') for each segment named in the text, in order of appearance:
    written 'axis:name', or a current segment's name (longest names first)."""
    found: list[tuple[int, int, str]] = []
    for m in re.finditer(r"\b([a-z_]+):([a-z0-9][a-z0-9_ -]*?)(?=$|[\s,?.!]|\s+(?:and|vs|versus|with)\b)", text):
        found.append((m.start(), m.end(), f"{m.group(1)}:{m.group(2).strip()}"))
    hay, spans = _hay_spans(text)
    used: set[int] = {i for i, (a, b) in enumerate(spans) if any(a < e and b > s for s, e, _ in found)}
    for key, (ax, name) in sorted(vocab._segment_keys, key=lambda kv: -len(kv[0])):
        i = _find(key, hay)
        if i < 0 or any(j in used for j in range(i, i + len(key))):
            continue
        if len(key) == 1 and key[0] in AMBIGUOUS_SEGMENT_WORDS:
            after = hay[i + 1] if i + 1 < len(hay) else ""
            before = hay[i - 1] if i > 0 else ""
            if after not in {"segment", "cluster", "group"} and before not in {ax, ax.replace("_", " ")}:
                continue
        used.update(range(i, i + len(key)))
        value = f"{ax}:{name}"
        if value not in {v for _, _, v in found}:
            found.append((spans[i][0], spans[i + len(key) - 1][1], value))
    return sorted(found)


def segments(text: str, vocab: Vocabulary) -> list[str]:
    return [value for _, _, value in segment_matches(text, vocab)]


def archetype_match(text: str, vocab: Vocabulary) -> tuple[int, int, str] | None:
    """(start, end, id or name) of the archetype named in the text (the longest name wins)."""
    m = re.search(r"\b(a-[0-9a-f]{6})\b", text)
    if m:
        return m.start(), m.end(), "A" + m.group(1)[1:]
    hay, spans = _hay_spans(text)
    best: tuple[int, int, int, str] | None = None
    for key, (_aid, name) in vocab._archetype_keys:
        i = _find(key, hay)
        if i >= 0 and (best is None or len(key) > best[0]):
            best = (len(key), spans[i][0], spans[i + len(key) - 1][1], name)
    return best[1:] if best else None


def archetype(text: str, vocab: Vocabulary) -> str | None:
    match = archetype_match(text, vocab)
    return match[2] if match else None


def mask_names(text: str, spans: list[tuple[int, int]]) -> str:
    """The text with the named segments/archetypes blanked out, so the words of a name ('deal
    seekers', 'one time') are not read as intent words."""
    out = text
    for start, end in sorted(spans, reverse=True):
        out = out[:start] + "‹name›" + out[end:]
    return out


def categories(text: str, vocab: Vocabulary) -> list[str]:
    hay = _hay(text)
    found = []
    for key, name in sorted(vocab._category_keys, key=lambda kv: -len(kv[0])):
        i = _find(key, hay)
        if i >= 0:
            found.append((i, name))
    return [name for _, name in sorted(found)]


_BOUGHT_WITH = re.compile(
    r"\b(?:bought|buy|buys|buying|purchased|sold|sells?|selling|ordered|goes|go|pairs?|paired)\s+(?:together\s+)?"
    r"(?:with|alongside|along with|together with)\s+(?:the\s+|a\s+|an\s+|our\s+)?([a-z0-9][\w '&-]{1,80}?)\s*(?:\?|$|,|\bin\b|\bby\b|\bfor\b|\bduring\b|\bover\b|\blast\b|\bthis\b|\bamong\b)"
    r"|\b(?:with|alongside)\s+(?:the\s+|a\s+|an\s+|our\s+)?([a-z0-9][\w '&-]{1,80}?)\s+(?:is|are|get|gets)\s+(?:bought|purchased|ordered)"
    r"|\bwhat (?:else )?(?:do|does|did) (?:people|customers|buyers|they|folks) (?:buy|get|add) with\s+(?:the\s+|a\s+|an\s+|our\s+)?([a-z0-9][\w '&-]{1,80}?)\s*(?:\?|$)"
)


def bought_with(text: str) -> str | None:
    m = _BOUGHT_WITH.search(text)
    if not m:
        return None
    value = next(g for g in m.groups() if g).strip(" ?.,'")
    return value or None


def as_dict(**values: Any) -> dict[str, Any]:
    """Drop the None values: the tools' defaults apply to what the question did not say."""
    return {k: v for k, v in values.items() if v is not None}
