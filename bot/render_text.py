"""The one text renderer: the same Block Kit views as terminal text, for `python app.py ask` and
`chat`. Tables as aligned columns and charts as a small table of their series, all within a
100-column terminal; buttons become what to type instead ("show more", "export csv", an
option's number); feedback buttons, which mean nothing in a terminal, are left out."""
from __future__ import annotations

import re
import textwrap
from typing import Any

from bot.views.answer import EXPORT_CSV, RUN_QUESTION, SHOW_MORE, answer_blocks

# Fits a 100-column terminal, with room for the chat's 5-column "bot> " margin.
WIDTH = 95
MAX_COLUMN = 32   # a longer text cell is cut with "…"
# What to type in the console for a Slack button (the offline router and the chat understand these).
TYPED = {SHOW_MORE: "show more", EXPORT_CSV: "export csv"}
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def _mrkdwn(text: str) -> str:
    """Slack mrkdwn to plain text: links show their label, emphasis markers go."""
    text = _LINK.sub(r"\2", text)
    text = _MENTION.sub(r"@\1", text)
    text = text.replace("```", "")
    return re.sub(r"(?<![\w*])[*_](\S(?:.*?\S)?)[*_](?![\w*])", r"\1", text)


def _fit(widths: list[int], total: int = WIDTH) -> int:
    """How many columns, from the left, fit `total` at their natural width (two spaces between
    columns): ids and figures are never cut to fit, the columns that do not fit are left out."""
    used = 0
    for count, width in enumerate(widths):
        used += width + (2 if count else 0)
        if used > total:
            return max(count, 1)
    return len(widths)


def _wrap(text: str) -> str:
    """Long lines wrapped at WIDTH; short lines and blank lines kept as they are."""
    out = []
    for line in text.split("\n"):
        if len(line) <= WIDTH:
            out.append(line)
        else:
            indent = re.match(r"\s*(?:[•\-*] |\d+\. )?", line).group(0)
            out.append(textwrap.fill(line, WIDTH, subsequent_indent=" " * len(indent)))
    return "\n".join(out)


def _header_lines(title: str, width: int) -> list[str]:
    return textwrap.wrap(title, width, break_long_words=True) or [""]


def _table(rows: list[list[str]], numeric: list[bool]) -> str:
    """Aligned columns; a header wraps onto a second or third line rather than widening its
    column, so a customer list keeps its churn and value columns on a 100-column terminal."""
    head, body = rows[0], rows[1:]
    cells = [min(max((len(r[i]) for r in body if i < len(r)), default=0), MAX_COLUMN) for i in range(len(head))]
    widths = [max(cell, min(len(head[i]), MAX_COLUMN)) for i, cell in enumerate(cells)]
    if _fit(widths) < len(head):
        # Too wide with one-line headers: each column only as wide as its cells and its header's
        # longest word (at most three header lines).
        widths = [max(cell, min(max(len(w) for w in (head[i].split() or [""])), MAX_COLUMN), -(-len(head[i]) // 3))
                  for i, cell in enumerate(cells)]
    shown = _fit(widths)
    widths = widths[:shown]

    def line(row: list[str]) -> str:
        out = []
        for i, width in enumerate(widths):
            cell = row[i] if i < len(row) else ""
            cell = cell if len(cell) <= width else cell[:width - 1] + "…"
            out.append(cell.rjust(width) if numeric[i] else cell.ljust(width))
        return "  ".join(out).rstrip()

    wrapped = [_header_lines(head[i], w) for i, w in enumerate(widths)]
    depth = max(len(h) for h in wrapped)
    # Headers sit on the bottom line, above their column, as spreadsheets show them.
    header = [line([(h[len(h) - depth + k] if len(h) - depth + k >= 0 else "") for h in wrapped]) for k in range(depth)]
    out = header + ["  ".join("─" * w for w in widths)] + [line(r) for r in body]
    if shown < len(head):
        left = head[shown:]
        out += _wrap(f"  (+{len(left)} more column{'s' if len(left) > 1 else ''}: {', '.join(left)}; "
                     f"\"export csv\" has them all)").split("\n")
    return "\n".join(text[:WIDTH] for text in out)


def _chart(block: dict[str, Any]) -> str:
    chart = block.get("chart", {})
    if chart.get("type") == "pie":
        rows = [["Segment", "Value"]] + [[s.get("label", ""), f"{s.get('value', 0):,.2f}"] for s in chart.get("segments", [])]
        return f"📈 {block.get('title', '')}\n" + _table(rows, [False, True])
    series = chart.get("series", [])
    categories = chart.get("axis_config", {}).get("categories", [])
    values = {s["name"]: {p["label"]: p["value"] for p in s.get("data", [])} for s in series}
    rows = [["Period"] + [s["name"] for s in series]]
    for category in categories:
        rows.append([category] + [f"{values[s['name']][category]:,.0f}" if category in values[s["name"]] else ""
                                  for s in series])
    return f"📈 {block.get('title', '')}\n" + _table(rows, [False] + [True] * len(series))


def blocks_to_text(blocks: list[dict[str, Any]]) -> str:
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            title = block["text"]["text"]
            parts.append(f"{title}\n{'═' * min(len(title), WIDTH)}")
        elif kind == "section":
            if block.get("text"):
                parts.append(_wrap(_mrkdwn(block["text"]["text"])))
            if block.get("fields"):
                pairs = [_mrkdwn(f["text"]).split("\n", 1) for f in block["fields"]]
                width = max(len(p[0]) for p in pairs)
                parts.append(_wrap("\n".join(f"  {p[0].ljust(width)}  {p[1] if len(p) > 1 else ''}" for p in pairs)))
        elif kind == "context":
            parts.append(_wrap("  " + " · ".join(_mrkdwn(e.get("text", "")) for e in block.get("elements", []))))
        elif kind == "divider":
            parts.append("─" * 60)
        elif kind == "table":
            rows = [[c.get("text", "") for c in row] for row in block.get("rows", [])]
            numeric = [s.get("align") == "right" for s in block.get("column_settings", [])] or [False] * len(rows[0])
            numeric += [False] * (len(rows[0]) - len(numeric))
            parts.append(_table(rows, numeric))
        elif kind == "data_visualization":
            parts.append(_chart(block))
        elif kind == "actions":
            parts.append(_typed(block.get("elements", [])))
        # context_actions (feedback buttons) have no meaning in a terminal
    return "\n\n".join(p for p in parts if p)


def _typed(elements: list[dict[str, Any]]) -> str:
    """Buttons as what to type: a clarification's options numbered (type the number or the words),
    "show more" / "export csv" as commands; anything else has no console equivalent."""
    options = [e.get("text", {}).get("text", "") for e in elements
               if str(e.get("action_id", "")).startswith(RUN_QUESTION)]
    if options:
        return "\n".join(f"  {n}. {label}" for n, label in enumerate(options, start=1))
    typed = [TYPED[e["action_id"]] for e in elements if e.get("action_id") in TYPED]
    return ("  Type " + " or ".join(f'"{t}"' for t in typed)) if typed else ""


def answer_to_text(answer: Any) -> str:
    """A router Answer rendered exactly as Slack would show it, as terminal text."""
    return blocks_to_text(answer_blocks(answer))
