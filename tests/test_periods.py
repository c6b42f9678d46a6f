"""The period grammar: every phrase in PERIOD_HELP, relative to a reference date, as [start, end)."""
from datetime import date, datetime, timezone

import pytest

from analytics.periods import parse_period
from analytics.core import ToolError

REF = date(2010, 12, 9)  # a Thursday; the last day of the Online Retail II year


@pytest.mark.parametrize("text, start, end", [
    ("last_90_days", date(2010, 9, 11), date(2010, 12, 10)),
    ("last 7 days", date(2010, 12, 3), date(2010, 12, 10)),
    ("last_12_weeks", date(2010, 9, 17), date(2010, 12, 10)),
    ("last_6_months", date(2010, 6, 10), date(2010, 12, 10)),
    ("last_1_year", date(2009, 12, 10), date(2010, 12, 10)),
    ("last_quarter", date(2010, 7, 1), date(2010, 10, 1)),
    ("this_quarter", date(2010, 10, 1), date(2010, 12, 10)),
    ("this_year", date(2010, 1, 1), date(2010, 12, 10)),
    ("last_year", date(2009, 1, 1), date(2010, 1, 1)),
    ("last_month", date(2010, 11, 1), date(2010, 12, 1)),
    ("this_month", date(2010, 12, 1), date(2010, 12, 10)),
    ("last_week", date(2010, 11, 29), date(2010, 12, 6)),
    ("Q4", date(2010, 10, 1), date(2011, 1, 1)),
    ("q1", date(2010, 1, 1), date(2010, 4, 1)),
    ("2009-Q4", date(2009, 10, 1), date(2010, 1, 1)),
    ("Q2 2010", date(2010, 4, 1), date(2010, 7, 1)),
    ("2010-11", date(2010, 11, 1), date(2010, 12, 1)),
    ("2010-02", date(2010, 2, 1), date(2010, 3, 1)),
    ("2010", date(2010, 1, 1), date(2011, 1, 1)),
    ("2010-03-15", date(2010, 3, 15), date(2010, 3, 16)),
    ("2010-01-01..2010-03-31", date(2010, 1, 1), date(2010, 4, 1)),
    ("2010-01 .. 2010-Q2", date(2010, 1, 1), date(2010, 7, 1)),
])
def test_phrases(text, start, end):
    period = parse_period(text, REF)
    assert (period.start, period.end) == (start, end)
    assert period.label == text.strip()


def test_bare_quarter_not_yet_started_means_last_years():
    # On 2010-06-30, Q3 has not started: 'Q3' is the one of 2009.
    period = parse_period("Q3", date(2010, 6, 30))
    assert (period.start, period.end) == (date(2009, 7, 1), date(2009, 10, 1))


def test_last_quarter_in_january_is_previous_years_q4():
    period = parse_period("last_quarter", date(2011, 1, 15))
    assert (period.start, period.end) == (date(2010, 10, 1), date(2011, 1, 1))


def test_month_arithmetic_clamps_to_month_end():
    # 6 months before 2010-08-31 (exclusive end 2010-09-01 → 2010-03-01)
    period = parse_period("last_6_months", date(2010, 8, 31))
    assert (period.start, period.end) == (date(2010, 3, 1), date(2010, 9, 1))
    period = parse_period("last_1_months", date(2010, 3, 30))
    assert (period.start, period.end) == (date(2010, 2, 28), date(2010, 3, 31))


def test_all_history_and_datetime_reference():
    assert parse_period(None, REF).is_all
    assert parse_period("all", REF).is_all
    period = parse_period("last_90_days", datetime(2010, 12, 9, 20, 1, tzinfo=timezone.utc))
    assert period.end == date(2010, 12, 10)
    start, end = period.bounds()
    assert start == datetime(2010, 9, 11, tzinfo=timezone.utc) and end.tzinfo is timezone.utc
    assert "2010-09-11 to 2010-12-09" in period.describe()


@pytest.mark.parametrize("text, fragment", [
    ("next_quarter", "next_quarter"),
    ("last_0_days", "last_0_days"),
    ("Q5", "Q5"),
    ("2010-13", "2010-13"),
    ("2010-02-30", "2010-02-30"),
    ("2010-05-01..someday", "someday"),
    ("banana", "banana"),
])
def test_bad_phrases_name_the_value(text, fragment):
    with pytest.raises(ToolError) as caught:
        parse_period(text, REF)
    message = str(caught.value)
    assert fragment in message
    assert "last_90_days" in message  # the grammar is shown so the user can fix it


def test_reversed_range_and_future_period_are_refused():
    with pytest.raises(ToolError, match="ends before it starts"):
        parse_period("2010-06-01..2010-01-31", REF)
    with pytest.raises(ToolError, match="starts after the latest order"):
        parse_period("2011", REF)
