"""The same Block Kit views as readable terminal text, for `python app.py chat` / `ask`: tables
as aligned columns, charts as a small table of their series, buttons as bracketed labels."""
from __future__ import annotations

import re
from typing import Any

from bot.views.answer import answer_blocks

WIDTH = 100
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
_MENTION = re.compile(r"<@([A-Z0-9]+)>")


def _mrkdwn(text: str) -> str:
    """Slack mrkdwn to plain text: links show their label, emphasis markers go."""
    text = _LINK.sub(r"\2", text)
    text = _MENTION.sub(r"@\1", text)
    text = text.replace("```", "")
    return re.sub(r"(?<![\w*])[*_](\S(?:.*?\S)?)[*_](?![\w*])", r"\1", text)


def _table(rows: list[list[str]], numeric: list[bool]) -> str:
    widths = [max(len(r[i]) if i < len(r) else 0 for r in rows) for i in range(len(rows[0]))]
    widths = [min(w, 40) for w in widths]

    def line(row: list[str]) -> str:
        cells = []
        for i, width in enumerate(widths):
            cell = (row[i] if i < len(row) else "")[:width]
            cells.append(cell.rjust(width) if numeric[i] else cell.ljust(width))
        return "  ".join(cells).rstrip()

    out = [line(rows[0]), "  ".join("─" * w for w in widths)]
    out += [line(r) for r in rows[1:]]
    return "\n".join(out)


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
                parts.append(_mrkdwn(block["text"]["text"]))
            if block.get("fields"):
                pairs = [_mrkdwn(f["text"]).split("\n", 1) for f in block["fields"]]
                width = max(len(p[0]) for p in pairs)
                parts.append("\n".join(f"  {p[0].ljust(width)}  {p[1] if len(p) > 1 else ''}" for p in pairs))
        elif kind == "context":
            parts.append("  " + " · ".join(_mrkdwn(e.get("text", "")) for e in block.get("elements", [])))
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
            labels = [e.get("text", {}).get("text", "") for e in block.get("elements", [])]
            parts.append("  " + "  ".join(f"[{label}]" for label in labels))
        # context_actions (feedback buttons) have no meaning in a terminal
    return "\n\n".join(p for p in parts if p)


def answer_to_text(answer: Any) -> str:
    """A router Answer rendered exactly as Slack would show it, as terminal text."""
    return blocks_to_text(answer_blocks(answer))
