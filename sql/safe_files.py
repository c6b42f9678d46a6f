"""Files the product writes for people: CSV cells neutralised against formula injection, and
private modes (0600 files in 0700 folders) for anything holding customer data.

In `sql` because that is the layer every other package may import; it imports nothing of ours.
"""
from __future__ import annotations

import re
from typing import Any

import pandas as pd

# OWASP CSV injection: a spreadsheet runs a cell starting with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def safe_cell(value: Any) -> Any:
    """A text cell that could run as a formula gets a leading apostrophe; numbers (and text that is
    only a number, like '-1' in a rejected row) are left as they are."""
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


def safe_row(values) -> list:
    return [safe_cell(v) for v in values]


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` with every text cell passed through `safe_cell` (numeric columns untouched)."""
    out = frame.copy()
    for column in out.columns:
        series = out[column]
        if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
            out[column] = series.map(safe_cell, na_action="ignore")
    out.columns = [safe_cell(c) if isinstance(c, str) else c for c in out.columns]
    return out
