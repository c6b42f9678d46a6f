"""The output scrubber removes phones and emails and never a date, year, range, money, count or id
(property tests over those shapes), and what it leaves still reads."""
from __future__ import annotations

import re
from datetime import date

from hypothesis import given, settings, strategies as st

from analytics.router.safety import scrub

WORDS = st.sampled_from(["revenue", "orders", "from", "to", "in", "was", "net", "customers", "since", "and", "(", ")",
                         ":", ",", "up", "on", "the", "store"])
DAYS = st.dates(min_value=date(1990, 1, 1), max_value=date(2099, 12, 31))


@st.composite
def figures(draw) -> str:
    """Every digit-bearing shape an answer carries."""
    kind = draw(st.integers(0, 11))
    day = draw(DAYS)
    other = draw(DAYS)
    amount = draw(st.floats(min_value=0, max_value=1e10, allow_nan=False))
    if kind == 0:
        return day.isoformat()
    if kind == 1:
        return f"{day:%Y-%m}"
    if kind == 2:
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    if kind == 3:
        return f"{min(day, other).year}{draw(st.sampled_from(['-', '–', ' to ', '..']))}{max(day, other).year}"
    if kind == 4:
        return f"{draw(st.sampled_from(['', '$', '€', '£']))}{amount:,.2f}"
    if kind == 5:
        return f"{int(amount):,}"
    if kind == 6:
        return f"{draw(st.floats(0, 1)):.1%}"
    if kind == 7:
        return "C-" + draw(st.text("0123456789ABCDEF", min_size=8, max_size=8))
    if kind == 8:
        return "A-" + draw(st.text("0123456789abcdef", min_size=6, max_size=6))
    if kind == 9:
        return f"{day.year} ({day.isoformat()} to {max(day, other).isoformat()})"
    if kind == 10:
        return f"{day.month}/{day.day}/{day.year} {draw(st.integers(0, 23))}:{draw(st.integers(0, 59)):02d}"
    return f"{draw(st.integers(0, 10**9)):,}"   # counts, as answers print them


@st.composite
def phones(draw) -> str:
    groups = draw(st.sampled_from([(3, 3, 4), (3, 3, 3), (2, 4, 4), (4, 3, 3), (1, 3, 3, 4), (2, 2, 2, 2, 2)]))
    digits = [draw(st.text("0123456789", min_size=n, max_size=n)) for n in groups]
    sep = draw(st.sampled_from([" ", "-", ".", " - "]))
    text = sep.join(digits)
    if draw(st.booleans()):
        text = "+" + text
    if draw(st.booleans()) and len(groups) == 3:
        text = f"({digits[0]}) {digits[1]}-{digits[2]}"
    return text


EMAILS = st.builds(lambda user, host, tld: f"{user}@{host}.{tld}",
                   st.from_regex(r"[a-z0-9][a-z0-9._+-]{0,15}", fullmatch=True),
                   st.from_regex(r"[a-z0-9][a-z0-9-]{0,12}", fullmatch=True), st.sampled_from(["com", "org", "net", "co.uk"]))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORDS, figures()), min_size=1, max_size=8))
def test_figures_dates_ranges_money_and_ids_are_never_touched(parts):
    # Figures as answers carry them: each after a word. (Bare digit groups side by side, '555 010
    # 4477', are what a phone number looks like, and are removed.)
    text = " ".join(f"{word} {figure}" for word, figure in parts)
    assert scrub(text) == text


@settings(max_examples=200, deadline=None)
@given(phones(), figures(), figures())
def test_phones_are_removed_and_the_sentence_still_reads(phone, before, after):
    text = f"Since {before} the customer called {phone} about {after}."
    cleaned = scrub(text)
    assert cleaned == f"Since {before} the customer called [phone removed] about {after}."


@settings(max_examples=100, deadline=None)
@given(EMAILS, figures())
def test_emails_are_removed(email, figure):
    cleaned = scrub(f"Reach {email} about {figure}")
    assert email not in cleaned and cleaned == f"Reach [email removed] about {figure}"


def test_known_cases():
    text = "C-1A2B3C4D (jane@example.com, +1 555-010-4477) spent $12,345.67 over 14 orders since 2010-12-01."
    assert scrub(text) == "C-1A2B3C4D ([email removed], [phone removed]) spent $12,345.67 over 14 orders since 2010-12-01."
    assert scrub("2024 (2024-01-01 to 2024-12-31): net revenue 2,476,182.95") == \
        "2024 (2024-01-01 to 2024-12-31): net revenue 2,476,182.95"
    assert not re.search(r"\d", scrub("call 555.010.4477 or 07700900123"))
