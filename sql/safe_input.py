"""Parsing request bodies from strangers: JSON with a bounded nesting depth, so a 100,000-deep
array is a clear 400 and never a RecursionError. Shared by the Slack and Gorgias endpoints; in
`sql` because that is the layer every package may import (it imports nothing of ours)."""
from __future__ import annotations

import json
import re
from typing import Any

MAX_JSON_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


class BadBody(ValueError):
    """A body that is not what the endpoint accepts; the message is safe to return to the sender."""


def json_depth(raw: bytes) -> int:
    """The deepest nesting of arrays and objects in `raw` (strings skipped), without recursion."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', raw)):
        if match.group() in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def loads_bounded(raw: bytes | str, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """json.loads for untrusted bytes: BadBody for text that is not UTF-8 JSON or is nested deeper
    than `max_depth`."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "surrogatepass")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BadBody("body is not UTF-8") from None
    if json_depth(raw) > max_depth:
        raise BadBody(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise BadBody("body is not valid JSON") from None
