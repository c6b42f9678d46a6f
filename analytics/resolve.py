"""Turns what a user typed into ids: customers (C-XXXXXXXX, store id, or for Gorgias email/phone),
segments ('axis:name' or a unique name, typo-tolerant) and archetypes (id or name)."""
from __future__ import annotations

import difflib
import re
import time

from analytics.core import require_current_run
from analytics.core import AXES
from analytics.core import ToolContext, ToolError
from sql import query

_PUBLIC_ID = re.compile(r"^c-?([0-9a-f]{8})$", re.IGNORECASE)
_NON_WORD = re.compile(r"[^a-z0-9]+")
# difflib ratio: 'big spendres' vs 'big spenders' is 0.92; unrelated short names stay below.
_FUZZY_CUTOFF = 0.8
_KNOWN_SECONDS = 300.0
_KNOWN_MAX = 50_000


def normalise(text: str) -> str:
    """Case, spaces, underscores and hyphens do not matter when naming things."""
    return _NON_WORD.sub(" ", text.lower()).strip()


def _scalar(ctx: ToolContext, name: str, params: dict):
    with ctx.db.cursor() as cur:
        cur.execute(query(name), params)
        row = cur.fetchone()
    return None if row is None else next(iter(row.values()))


def resolve_customer(ctx: ToolContext, text: str) -> int:
    """Internal customer_id for 'C-XXXXXXXX' (any case) or the store's own customer id."""
    typed = (text or "").strip()
    if not typed:
        raise ToolError("Which customer? Give their id as C-XXXXXXXX or the store's customer id.")
    known = _known_customers(ctx)
    hit = known.get(typed)
    if hit is not None and time.monotonic() - hit[0] < _KNOWN_SECONDS:
        return hit[1]
    match = _PUBLIC_ID.match(typed)
    found = None
    if match:
        found = _scalar(ctx, "resolve.customer_by_public_id", {"public_id": "C-" + match.group(1).upper()})
    if found is None:
        found = _scalar(ctx, "resolve.customer_by_store_id", {"store_id": typed})
    if found is not None:
        if len(known) >= _KNOWN_MAX:
            known.clear()   # crude, but bounded; re-reading ids is cheap
        known[typed] = (time.monotonic(), found)
        return found
    raise ToolError(f"No customer {typed!r}: use the id shown by the bot (C-XXXXXXXX) or the store's customer id.")


def _known_customers(ctx: ToolContext) -> dict[str, tuple[float, int]]:
    # Ids a user typed → internal ids, per process. Both ids are stable (a public id changes only
    # when the pseudonym key changes), so a short memory saves a round trip on repeated lookups.
    return ctx.memo.setdefault("known_customers", {})


def resolve_customer_by_contact(ctx: ToolContext, *, email: str | None = None, phone: str | None = None) -> int | None:
    """Internal use (Gorgias): the customer with this email, else this phone number; None if neither matches."""
    if email and email.strip():
        found = _scalar(ctx, "resolve.customer_by_email", {"email": email.strip()})
        if found is not None:
            return found
    digits = re.sub(r"\D", "", phone or "")
    if len(digits) >= 6:  # shorter strings would match too many numbers by accident
        return _scalar(ctx, "resolve.customer_by_phone", {"digits": digits})
    return None


def _segments(ctx: ToolContext, run_id: int) -> list[dict]:
    def load() -> list[dict]:
        with ctx.db.cursor() as cur:
            cur.execute(query("resolve.segments"), {"run_id": run_id})
            return [dict(row) for row in cur.fetchall()]

    if ctx.cache is None:
        return load()
    return ctx.cache.get_or_compute(f"run{run_id}:segment-names", None, load)


def _archetypes(ctx: ToolContext, run_id: int) -> list[dict]:
    def load() -> list[dict]:
        with ctx.db.cursor() as cur:
            cur.execute(query("resolve.archetypes"), {"run_id": run_id})
            return [dict(row) for row in cur.fetchall()]

    if ctx.cache is None:
        return load()
    return ctx.cache.get_or_compute(f"run{run_id}:archetype-names", None, load)


def _options(labels: list[str], limit: int = 8) -> str:
    shown = ", ".join(f"'{label}'" for label in labels[:limit])
    return shown + (f" (and {len(labels) - limit} more)" if len(labels) > limit else "")


def resolve_segment(ctx: ToolContext, text: str, run_id: int | None = None) -> tuple[str, str]:
    """(axis, name) for 'axis:name', 'axis name' or a name unique across axes; tolerant of case,
    spaces/underscores and small misspellings. Ambiguous or unknown → ToolError listing options."""
    typed = (text or "").strip()
    if not typed:
        raise ToolError("Which segment? Name it as 'axis:name', e.g. 'frequency:frequent'.")
    run_id = run_id if run_id is not None else require_current_run(ctx).run_id
    segments = _segments(ctx, run_id)
    if not segments:
        raise ToolError("The current discovery run has no segments yet.")

    axis_text, sep, name_text = typed.partition(":")
    candidates = segments
    if sep:
        axis = _match_axis(axis_text)
        if axis is None:
            raise ToolError(f"Unknown axis {axis_text.strip()!r}; the axes are {', '.join(AXES)}.")
        candidates = [s for s in segments if s["axis"] == axis]
        wanted = normalise(name_text)
    else:
        wanted = normalise(typed)
        # 'frequency frequent' (axis then name, without the colon)
        for axis in AXES:
            prefix = normalise(axis) + " "
            if wanted.startswith(prefix) and any(
                    s["axis"] == axis and normalise(s["name"]) == wanted[len(prefix):] for s in segments):
                candidates, wanted = [s for s in segments if s["axis"] == axis], wanted[len(prefix):]
                break

    exact = [s for s in candidates if normalise(s["name"]) == wanted]
    if len(exact) == 1:
        return exact[0]["axis"], exact[0]["name"]
    if len(exact) > 1:
        raise ToolError(f"{typed!r} names a segment on several axes: say which one — "
                        + _options([f"{s['axis']}:{s['name']}" for s in exact]) + ".")
    # A word or two of a name ('spenders') picks it if no other name has them too.
    partial = [s for s in candidates if f" {wanted} " in f" {normalise(s['name'])} "]
    if len(partial) == 1:
        return partial[0]["axis"], partial[0]["name"]
    if len(partial) > 1:
        raise ToolError(f"Segment {typed!r} is ambiguous; did you mean "
                        + _options([f"{s['axis']}:{s['name']}" for s in partial]) + "?")
    by_norm: dict[str, list[dict]] = {}
    for s in candidates:
        by_norm.setdefault(normalise(s["name"]), []).append(s)
    close = difflib.get_close_matches(wanted, list(by_norm), n=5, cutoff=_FUZZY_CUTOFF)
    hits = [s for norm in close for s in by_norm[norm]]
    if len(close) == 1 and len(hits) == 1:
        return hits[0]["axis"], hits[0]["name"]
    if hits:
        raise ToolError(f"Segment {typed!r} is ambiguous; did you mean "
                        + _options([f"{s['axis']}:{s['name']}" for s in hits]) + "?")
    sample = [f"{s['axis']}:{s['name']}" for s in candidates]
    raise ToolError(f"Unknown segment {typed!r}. Known segments include " + _options(sample) + ".")


def _match_axis(text: str) -> str | None:
    wanted = normalise(text).replace(" ", "_")
    if wanted in AXES:
        return wanted
    close = difflib.get_close_matches(wanted, list(AXES), n=1, cutoff=0.75)
    return close[0] if close else None


def resolve_archetype(ctx: ToolContext, text: str, run_id: int | None = None) -> str:
    """archetype_id for an id (any case) or a name (typo-tolerant); ToolError listing options otherwise."""
    typed = (text or "").strip()
    if not typed:
        raise ToolError("Which archetype? Give its id (e.g. 'A-1f3c9e') or its name.")
    run_id = run_id if run_id is not None else require_current_run(ctx).run_id
    archetypes = _archetypes(ctx, run_id)
    if not archetypes:
        raise ToolError("The current discovery run has no archetypes yet.")
    for a in archetypes:
        if a["archetype_id"].lower() == typed.lower():
            return a["archetype_id"]
    wanted = normalise(typed)
    exact = [a for a in archetypes if normalise(a["name"]) == wanted]
    if len(exact) == 1:
        return exact[0]["archetype_id"]
    if len(exact) > 1:
        raise ToolError(f"Several archetypes are called {typed!r}: use an id — "
                        + _options([f"{a['archetype_id']} ({a['name']})" for a in exact]) + ".")
    by_norm: dict[str, list[dict]] = {}
    for a in archetypes:
        by_norm.setdefault(normalise(a["name"]), []).append(a)
    close = difflib.get_close_matches(wanted, list(by_norm), n=5, cutoff=_FUZZY_CUTOFF)
    hits = [a for norm in close for a in by_norm[norm]]
    if len(hits) == 1:
        return hits[0]["archetype_id"]
    if hits:
        raise ToolError(f"Archetype {typed!r} is ambiguous; did you mean "
                        + _options([f"{a['archetype_id']} ({a['name']})" for a in hits]) + "?")
    raise ToolError(f"Unknown archetype {typed!r}. The largest are "
                    + _options([f"{a['archetype_id']} ({a['name']})" for a in archetypes], 6) + ".")
