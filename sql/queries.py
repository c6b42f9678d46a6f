"""Named SQL queries kept as .sql files: one query per file, or several under `-- name: NAME` lines."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

QUERIES_DIR = Path(__file__).parent / "queries"
_NAME_LINE = re.compile(r"^--\s*name:\s*(\S+)\s*$", re.MULTILINE)


@lru_cache(maxsize=1)
def _all_queries() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in sorted(QUERIES_DIR.glob("*.sql")):
        text = path.read_text(encoding="utf-8")
        parts = _NAME_LINE.split(text)
        if len(parts) == 1:  # a file holding one query is named after the file
            found[path.stem] = text.strip()
            continue
        for name, body in zip(parts[1::2], parts[2::2]):
            key = f"{path.stem}.{name}"
            if key in found:
                raise ValueError(f"query {key} is defined twice in {path}")
            found[key] = body.strip()
    return found


def query(name: str) -> str:
    """The text of a named query: 'file' or 'file.name' for a `-- name:` block inside file.sql."""
    try:
        return _all_queries()[name]
    except KeyError:
        raise KeyError(f"no SQL query named {name!r} in {QUERIES_DIR}") from None
