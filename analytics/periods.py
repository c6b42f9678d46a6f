"""The period grammar of the tools (see `PERIOD_HELP`): a phrase such as 'last_90_days', 'Q4',
'2010-11' or '2010-01-01..2010-03-31' becomes a half-open date range [start, end), measured from a
reference date — the day of the latest order in the data, so an old export behaves like today's.

Calendar words mean calendar units: 'last_quarter' is the quarter before the one holding the
reference date, 'last_year' the calendar year before it; 'this_…' runs from the start of the unit to
the reference date inclusive. 'last_N_days|weeks|months|years' are rolling windows ending on the
reference date inclusive. A bare 'Q4' is the most recent Q4 that had started by the reference date.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

from analytics.core import PERIOD_HELP
from analytics.core import ToolError


@dataclass(frozen=True)
class Period:
    """[start, end) in whole days; both None means all history."""

    start: date | None
    end: date | None
    label: str

    @property
    def is_all(self) -> bool:
        return self.start is None and self.end is None

    def bounds(self, tz: timezone = timezone.utc) -> tuple[datetime | None, datetime | None]:
        """The range as timestamps (midnight in `tz`), for `ordered_at >= start AND ordered_at < end`."""
        as_ts = lambda d: None if d is None else datetime.combine(d, time.min, tzinfo=tz)  # noqa: E731
        return as_ts(self.start), as_ts(self.end)

    def describe(self) -> str:
        if self.is_all:
            return "all history"
        last_day = self.end - timedelta(days=1)
        return f"{self.label} ({self.start.isoformat()} to {last_day.isoformat()})"


ALL_HISTORY = Period(None, None, "all history")

_ROLLING = re.compile(r"^last_(\d{1,4})_(day|week|month|year)s?$")
_QUARTER = re.compile(r"^(?:(\d{4})_?q([1-4])|q([1-4])(?:_?(\d{4}))?)$")
_YEAR = re.compile(r"^(\d{4})$")
_MONTH = re.compile(r"^(\d{4})-(\d{1,2})$")
_DAY = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def _add_months(day: date, months: int) -> date:
    """Same day of month `months` later (clamped to the month's last day)."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    next_month = date(year + (month == 12), month % 12 + 1, 1)
    return date(year, month, min(day.day, (next_month - timedelta(days=1)).day))


def _quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def _bad(text: str, why: str = "") -> ToolError:
    reason = f" ({why})" if why else ""
    return ToolError(f"I don't understand the period {text!r}{reason}. {PERIOD_HELP}")


def _calendar(text: str, token: str) -> tuple[date, date] | None:
    """A calendar unit named explicitly: a year, a quarter with its year, a month or a day."""
    try:
        if m := _YEAR.match(token):
            year = int(m.group(1))
            return date(year, 1, 1), date(year + 1, 1, 1)
        if (m := _QUARTER.match(token.replace("-", "_"))) and (m.group(1) or m.group(4)):
            year = int(m.group(1) or m.group(4))
            quarter = int(m.group(2) or m.group(3))
            start = date(year, 3 * quarter - 2, 1)
            return start, _add_months(start, 3)
        if m := _MONTH.match(token):
            start = date(int(m.group(1)), int(m.group(2)), 1)
            return start, _add_months(start, 1)
        if m := _DAY.match(token):
            day = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
            return day, day + timedelta(days=1)
    except ValueError as exc:  # date(2010, 13, 1) and friends
        raise _bad(text, str(exc)) from None
    return None


def _relative(token: str, ref: date) -> tuple[date, date] | None:
    """Phrases measured from the reference date."""
    end = ref + timedelta(days=1)  # the reference day itself is included
    if m := _ROLLING.match(token):
        count, unit = int(m.group(1)), m.group(2)
        if count < 1:
            return None
        if unit == "day":
            return end - timedelta(days=count), end
        if unit == "week":
            return end - timedelta(weeks=count), end
        months = count if unit == "month" else 12 * count
        if months > 12 * (ref.year - 1):  # would start before year 1: date() cannot say that
            return None
        return _add_months(end, -months), end
    if m := _QUARTER.match(token):
        if m.group(3) and not m.group(4):  # bare 'Q4': the latest one that had started by ref
            quarter = int(m.group(3))
            start = date(ref.year, 3 * quarter - 2, 1)
            if start > ref:
                start = date(ref.year - 1, start.month, 1)
            return start, _add_months(start, 3)
    month_start = date(ref.year, ref.month, 1)
    week_start = ref - timedelta(days=ref.weekday())  # ISO weeks start on Monday
    phrases = {
        "today": (ref, end),
        "yesterday": (ref - timedelta(days=1), ref),
        "this_week": (week_start, end),
        "last_week": (week_start - timedelta(weeks=1), week_start),
        "this_month": (month_start, end),
        "last_month": (_add_months(month_start, -1), month_start),
        "this_quarter": (_quarter_start(ref), end),
        "last_quarter": (_add_months(_quarter_start(ref), -3), _quarter_start(ref)),
        "this_year": (date(ref.year, 1, 1), end),
        "ytd": (date(ref.year, 1, 1), end),
        "year_to_date": (date(ref.year, 1, 1), end),
        "last_year": (date(ref.year - 1, 1, 1), date(ref.year, 1, 1)),
    }
    return phrases.get(token)


def parse_period(text: str | None, reference: date | datetime) -> Period:
    """The [start, end) range a period phrase names, relative to `reference` (the latest order's day).

    Raises ToolError naming the phrase when it is not in the grammar, names an impossible date,
    ends before it starts, or starts after the reference date (there is no data there yet)."""
    if isinstance(reference, datetime) and reference.tzinfo is not None:
        # Bounds are UTC midnights; the reference day must be the UTC day too, whatever TimeZone
        # the database session returned the timestamp in.
        reference = reference.astimezone(timezone.utc)
    ref = reference.date() if isinstance(reference, datetime) else reference
    raw = (text or "").strip()
    token = re.sub(r"[\s-]+", "_", raw.lower()) if ".." not in raw else raw.lower().replace(" ", "")
    if token in ("", "all", "all_time", "all_history", "everything"):
        return ALL_HISTORY

    if ".." in token:
        left, _, right = token.partition("..")
        first, last = _calendar(raw, left.strip()), _calendar(raw, right.strip())
        if first is None or last is None:
            raise _bad(raw, "each side of '..' must be a date, month, quarter or year")
        start, end = first[0], last[1]
    else:
        # '2010-11' must reach _calendar with its hyphen: try the raw spelling first.
        found = _calendar(raw, raw.lower().replace(" ", "")) or _calendar(raw, token) or _relative(token, ref)
        if found is None:
            raise _bad(raw)
        start, end = found
    if end <= start:
        raise ToolError(f"The period {raw!r} ends before it starts.")
    if start > ref:
        raise ToolError(f"The period {raw!r} starts after the latest order in the data ({ref.isoformat()}).")
    return Period(start, end, raw)
