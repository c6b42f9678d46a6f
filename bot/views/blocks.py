"""Block Kit primitives and Slack's limits: sections, context lines, tables, and the pager that
splits long answers into several messages instead of letting Slack reject them."""
from __future__ import annotations

from typing import Any, Iterable

Block = dict[str, Any]

MAX_MESSAGE_BLOCKS = 50
MAX_HOME_BLOCKS = 100
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_FIELDS = 10
MAX_TABLE_ROWS = 100       # header row included
MAX_TABLE_CELLS = 20
MAX_TABLES_PER_MESSAGE = 1  # Slack accepts one table block per message
MAX_CHARTS_PER_MESSAGE = 2
MAX_HEADER_CHARS = 150
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK_CHARS = 3900


def clip(text: str, limit: int) -> str:
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER_CHARS), "emoji": True}}


def split_text(text: str, limit: int = MAX_SECTION_CHARS) -> list[str]:
    """Split on paragraph, then line, then hard boundaries so every piece fits one section."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        cut = rest.rfind("\n\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind("\n", 0, limit)
        if cut <= 0:
            cut = rest.rfind(" ", 0, limit)
        if cut <= 0:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def sections(text: str) -> list[Block]:
    """Mrkdwn text as one or more sections, each within the 3,000-character limit."""
    return [{"type": "section", "text": {"type": "mrkdwn", "text": piece}} for piece in split_text(text)]


def fields_section(pairs: Iterable[tuple[str, str]]) -> list[Block]:
    """Label/value pairs as sections of at most ten fields."""
    fields = [{"type": "mrkdwn", "text": clip(f"*{label}*\n{value}", MAX_FIELD_CHARS)} for label, value in pairs]
    return [{"type": "section", "fields": fields[i:i + MAX_FIELDS]} for i in range(0, len(fields), MAX_FIELDS)]


def context(*texts: str) -> Block:
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_SECTION_CHARS)} for t in texts if t][:MAX_CONTEXT_ELEMENTS]
    return {"type": "context", "elements": elements}


def divider() -> Block:
    return {"type": "divider"}


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    element = {"type": "button", "text": {"type": "plain_text", "text": clip(text, 75), "emoji": True},
               "action_id": action_id, "value": clip(value, 2000)}
    if style:
        element["style"] = style
    return element


def actions(elements: list[dict[str, Any]], block_id: str | None = None) -> Block:
    block: Block = {"type": "actions", "elements": elements[:25]}
    if block_id:
        block["block_id"] = block_id
    return block


def _cell(value: Any) -> dict[str, str]:
    return {"type": "raw_text", "text": clip("" if value is None else str(value), 500)}


def tables(columns: list[str], rows: list[list[Any]], numeric: list[bool] | None = None) -> list[Block]:
    """Rows as Slack `table` blocks; more than 99 data rows become several tables (one per message
    after paging), each with the header row repeated. Columns beyond 20 are dropped."""
    columns = columns[:MAX_TABLE_CELLS]
    numeric = (numeric or [False] * len(columns))[: len(columns)]
    settings = [{"align": "right"} if is_num else {"is_wrapped": True} for is_num in numeric]
    head = [_cell(c) for c in columns]
    per_table = MAX_TABLE_ROWS - 1
    blocks: list[Block] = []
    for start in range(0, max(len(rows), 1), per_table):
        chunk = rows[start:start + per_table]
        if not chunk and blocks:
            break
        body = [[_cell(v) for v in row[: len(columns)]] for row in chunk]
        blocks.append({"type": "table", "column_settings": settings, "rows": [head] + body})
    return blocks


def is_chart(block: Block) -> bool:
    return block.get("type") == "data_visualization"


def paginate(blocks: list[Block], *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[list[Block]]:
    """Split blocks into messages that each respect the block, chart and table limits."""
    pages: list[list[Block]] = []
    page: list[Block] = []
    charts = tables_in_page = 0
    for block in blocks:
        chart = is_chart(block)
        table = block.get("type") == "table"
        if page and (len(page) >= max_blocks
                     or (chart and charts >= MAX_CHARTS_PER_MESSAGE)
                     or (table and tables_in_page >= MAX_TABLES_PER_MESSAGE)):
            pages.append(page)
            page, charts, tables_in_page = [], 0, 0
        page.append(block)
        charts += chart
        tables_in_page += table
    if page or not pages:
        pages.append(page)
    return pages


def fallback_text(blocks: list[Block], default: str = "") -> str:
    """Plain text of a message for notifications and screen readers (Slack's top-level `text`)."""
    parts: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind in ("header", "section") and isinstance(block.get("text"), dict):
            parts.append(block["text"]["text"])
        elif kind == "section":
            parts.extend(f["text"].replace("\n", " ") for f in block.get("fields", []))
        elif kind == "data_visualization":
            parts.append(f"[chart: {block.get('title', '')}]")
        elif kind == "table":
            parts.append(f"[table: {len(block.get('rows', [])) - 1} rows]")
    text = "\n".join(p for p in parts if p) or default or "(answer)"
    return clip(text, MAX_FALLBACK_CHARS)


def check_message_limits(blocks: list[Block], *, max_blocks: int = MAX_MESSAGE_BLOCKS) -> list[str]:
    """Every limit a message (or Home view) breaks; empty when Slack would accept it. Used by tests
    and by the pager's callers as a last guard."""
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"{len(blocks)} blocks > {max_blocks}")
    charts = sum(1 for b in blocks if is_chart(b))
    if charts > MAX_CHARTS_PER_MESSAGE:
        problems.append(f"{charts} charts > {MAX_CHARTS_PER_MESSAGE}")
    tables_count = sum(1 for b in blocks if b.get("type") == "table")
    if tables_count > MAX_TABLES_PER_MESSAGE:
        problems.append(f"{tables_count} tables > {MAX_TABLES_PER_MESSAGE}")
    for i, block in enumerate(blocks):
        kind = block.get("type")
        text = block.get("text")
        if kind == "section" and isinstance(text, dict) and len(text["text"]) > MAX_SECTION_CHARS:
            problems.append(f"block {i}: section text {len(text['text'])} chars")
        if kind == "section" and len(block.get("fields", [])) > MAX_FIELDS:
            problems.append(f"block {i}: {len(block['fields'])} fields")
        if kind == "header" and len(text["text"]) > MAX_HEADER_CHARS:
            problems.append(f"block {i}: header {len(text['text'])} chars")
        if kind == "table":
            rows = block["rows"]
            if len(rows) > MAX_TABLE_ROWS:
                problems.append(f"block {i}: table {len(rows)} rows")
            if any(len(r) > MAX_TABLE_CELLS for r in rows):
                problems.append(f"block {i}: table row wider than {MAX_TABLE_CELLS}")
        if kind == "data_visualization":
            problems.extend(f"block {i}: {p}" for p in check_chart(block))
    return problems


def check_chart(block: Block) -> list[str]:
    """Shape rules of the data_visualization block (DESIGN.md)."""
    problems = []
    if len(block.get("title", "")) > 50:
        problems.append("chart title > 50 chars")
    chart = block.get("chart", {})
    if chart.get("type") not in ("line", "bar", "area", "pie"):
        problems.append(f"chart type {chart.get('type')!r}")
    if chart.get("type") == "pie":
        if not 1 <= len(chart.get("segments", [])) <= 6:
            problems.append("pie needs 1-6 segments")
        return problems
    series = chart.get("series", [])
    if not 1 <= len(series) <= 6:
        problems.append(f"{len(series)} series (1-6 allowed)")
    categories = chart.get("axis_config", {}).get("categories", [])
    if len(categories) > 20:
        problems.append(f"{len(categories)} categories > 20")
    if any(len(c) > 20 for c in categories):
        problems.append("category label > 20 chars")
    for s in series:
        for point in s.get("data", []):
            if not isinstance(point.get("value"), (int, float)) or len(str(point.get("label", ""))) > 20:
                problems.append(f"series {s.get('name')!r}: bad point {point}")
                break
    return problems
