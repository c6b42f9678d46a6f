"""Questions the bot refuses before any routing (size, SQL, personal data, prompt injection,
off-topic), and a last scrub of answer text so no email or phone number reaches chat."""
from __future__ import annotations

import re

MAX_QUESTION_CHARS = 2_000

REFUSE_TOO_LONG = (
    "That message is {length:,} characters long; I can take questions up to {limit:,} characters. "
    "Could you ask it in a sentence or two?"
)
REFUSE_EMPTY = "I didn't catch a question. Try \"who is about to churn?\" or type `help`."
REFUSE_SQL = (
    "I can't run database commands. I only answer questions about your customers, "
    "e.g. \"top 10 customers by value\"."
)
REFUSE_PII = (
    "I can't share customers' personal details (emails, phone numbers, addresses or names) in chat; "
    "customers appear as pseudonymous ids like C-1A2B3C4D. Their profile, value and churn risk I can show."
)
REFUSE_INJECTION = (
    "I can't change my instructions or reveal my configuration. Ask me about your customers, "
    "segments, products, forecasts or campaigns."
)
REFUSE_OFF_TOPIC = (
    "I only answer questions about your store's customers: churn risk, segments and archetypes, "
    "customer value, products, forecasts and campaigns."
)

_SQL = re.compile(
    r"(\bdrop\s+(table|database|schema)\b|\bdelete\s+from\b|\btruncate\s+(table\s+)?\w|"
    r"\binsert\s+into\b|\bupdate\s+\w+\s+set\b|\bunion\s+(all\s+)?select\b|\balter\s+table\b|"
    r"\bselect\s+[\w*,\s]+\s+from\s+\w|;\s*--|'\s*or\s+'?1'?\s*=\s*'?1|\bpg_sleep\b|\bgrant\s+all\b)",
    re.IGNORECASE,
)
# Asking for contact details or identity (not for a profile, and not "email campaign").
_PII = re.compile(
    r"(\b(e-?mail|phone|telephone|mobile|cell)\s*(address(es)?|numbers?|nos?\.?|#)?\s+(of|for)\b|"
    r"\b(his|her|their|its|customer'?s|the customer'?s|c-[0-9a-f]{8}'?s?|\d{4,}'?s)\s+"
    r"(e-?mail|phone|mobile|cell|number|address|name|surname|contact)|"
    r"\be-?mail address(es)?\b|\bphone numbers?\b|\bmobile number\b|\bcell number\b|"
    r"\bcontact (details|info(rmation)?)\b|\b(home|postal|mailing|street|shipping|billing) address|"
    r"\b(list|give|get|show|send me|export|share|tell me|what(?:'s| is| are))\b[^.?]{0,30}"
    r"\b(e-?mails|phones|addresses|(real |full |first |last )?names)\b|"
    r"\bwhere (does|do) [\w -]{1,30} live\b|\b(full|real|first|last) names?\b|"
    r"\bwho is (c-[0-9a-f]{8}|\d{4,}) really\b|\bcredit card\b|\bdate of birth\b|\bbirthday\b)",
    re.IGNORECASE,
)
# "names of the archetypes" is a fair question: PII wording about store concepts is allowed.
_STORE_NOUNS = re.compile(r"\b(segments?|archetypes?|categor(y|ies)|products?|campaigns?|axis|axes|personas?)\b",
                          re.IGNORECASE)
_INJECTION = re.compile(
    r"(\bignore\b.{0,40}\b(instruction|prompt|rule|above|previous|prior)s?\b|\bsystem prompt\b|"
    r"\byour (instructions|prompt|settings|config(uration)?|rules)\b|\b(print|show|reveal|dump|tell me|"
    r"display|leak)\b.{0,30}\b(settings|config(uration)?|env(ironment)?( variables)?|secrets?|api[ _-]?keys?|"
    r"tokens?|passwords?|credentials|database url|connection string)\b|\bapi[ _-]?key\b|"
    r"\bjailbreak\b|\bdeveloper mode\b|\bpretend (you are|to be)\b|\bact as\b|\bDAN\b|"
    r"\bdisregard\b.{0,40}\b(instruction|rule|above|previous)s?\b|\bnew instructions\b)",
    re.IGNORECASE,
)
_OFF_TOPIC = re.compile(
    r"\b(weather|forecast for (tomorrow|today) in|temperature outside|rain(ing)?|snow(ing)?|"
    r"joke|poem|recipe|song|lyrics|bitcoin|crypto|stock price|football|soccer|nba|election|"
    r"president|capital of|translate|horoscope|meaning of life|movie|who won)\b",
    re.IGNORECASE,
)

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# Shapes that carry digits but are never contact details: dates, months, quarters, times, year
# ranges, money and counts with separators or decimals, percentages, pseudonymous / archetype ids and
# order references. They are set aside before phones are looked for, so no figure is ever removed.
_PROTECTED = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?\b"          # 2024-01-31, 2024-01-31 10:00
    r"|\b\d{4}-(?:\d{2}|Q[1-4])\b"                                      # 2024-11, 2024-Q3
    r"|\b\d{1,2}/\d{1,2}/\d{2,4}\b"                                     # 12/1/2010
    r"|\b\d{1,2}:\d{2}(?::\d{2})?\b"                                     # 08:26
    r"|\b(?:19|20)\d{2}\s*(?:-|–|—|to|\.\.)\s*(?:19|20)\d{2}\b"          # 2022-2024, 2023 to 2024
    r"|(?<![\d.,])[$€£¥]?\d{1,3}(?:,\d{3})+(?:\.\d+)?%?(?![.,]?\d)"     # 12,345.67
    r"|(?<![\d.,])[$€£¥]?\d+\.\d+%?(?![.,]?\d)|\d+%"                   # 81.34  6%
    r"|\b[CA]-[0-9A-Fa-f]{6,}\b|#\d+"                                     # C-1A2B3C4D, A-1f3c9e, #1234
    r"|(?<!\d[\s.-])(?<!\()\b(?:19|20)\d{2}\b(?!\)?[\s.-]\d)",               # a year on its own
    re.IGNORECASE)
# A phone number: at least 9 digits in groups with the separators people type ("+1 555-010-4477",
# "(555) 010 4477", "555.010.4477"), or a bare run of 10-15 digits that starts with + or 0.
_PHONE = re.compile(r"(?<![\w])(?:\+?\(?\d{1,4}\)?(?:[\s.-]| - )){2,5}\d{2,4}(?![\w])|(?<![\w+])(?:\+|0)\d{9,14}(?!\w)")


def refusal_for(question: str) -> str | None:
    """A polite refusal for a question the bot must not answer, or None if it may proceed."""
    text = question.strip()
    if not text:
        return REFUSE_EMPTY
    if len(question) > MAX_QUESTION_CHARS:
        return REFUSE_TOO_LONG.format(length=len(question), limit=MAX_QUESTION_CHARS)
    if _INJECTION.search(text):
        return REFUSE_INJECTION
    if _SQL.search(text):
        return REFUSE_SQL
    if _EMAIL.search(text) or (_PII.search(text) and not _STORE_NOUNS.search(text)):
        return REFUSE_PII
    return None


def is_off_topic(question: str) -> bool:
    """True for questions about something other than the store (weather, jokes, sport...)."""
    return bool(_OFF_TOPIC.search(question))


def scrub(text: str) -> str:
    """Remove email addresses and phone numbers from text bound for chat (defence in depth:
    tools never return them, but a model could echo something a user typed). Dates, years, ranges,
    money, counts and ids are never touched."""
    text = _EMAIL.sub("[email removed]", text)
    kept: list[str] = []

    def set_aside(match: re.Match[str]) -> str:
        kept.append(match.group(0))
        return f"\x00{len(kept) - 1}\x00"

    masked = _PROTECTED.sub(set_aside, text)

    def phone(match: re.Match[str]) -> str:
        found = match.group(0)
        digits = sum(ch.isdigit() for ch in found)
        # Groups split by spaces alone ('10 100 250') are often figures side by side: written that way
        # a phone has ten digits, or groups of three and more; with + ( - or . nine digits are enough.
        groups = re.findall(r"\d+", found)
        phone_like = digits >= 9 and (re.search(r"[+().-]", found) or digits >= 10 or min(map(len, groups)) >= 3)
        return "[phone removed]" if phone_like and "\x00" not in found else found

    masked = _PHONE.sub(phone, masked)
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], masked)
