"""Files the product writes for people: CSV cells neutralised against formula injection, and
private modes (0600 files in 0700 folders) for anything holding customer data.

In `sql` because that is the layer every other package may import; it imports nothing of ours.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
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


def private_dir(path, *, traversable: bool = False):
    """Create `path` (and parents) and make it owner-only (0700). `traversable` leaves it 0711 -
    others may pass through but not list it - for the embedded PostgreSQL, which runs as its own
    system user when we are root."""
    path = Path(path)
    missing = [p for p in [path, *path.parents] if not p.exists()]
    for folder in reversed(missing):  # folders we create are owner-only from the start
        folder.mkdir(mode=0o700, exist_ok=True)
    os.chmod(path, 0o711 if traversable else 0o700)
    return path


def open_private(path, mode: str = "w", **kwargs):
    """open() for a file holding customer data: created (or truncated) with mode 0600."""
    path = Path(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its old mode through O_CREAT
    return os.fdopen(fd, mode, **kwargs)


def write_private_csv(frame: pd.DataFrame, path, **to_csv) -> None:
    """`frame` as CSV at `path`, formula cells neutralised, file mode 0600."""
    with open_private(path, "w", newline="", encoding="utf-8") as handle:
        safe_frame(frame).to_csv(handle, **to_csv)
