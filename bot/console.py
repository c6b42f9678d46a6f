"""The console side of the router: `python app.py route|ask|chat`. Same Router and tools as
Slack; answers are rendered as plain text (the summary plus simple tables from the result's
list fields)."""
from __future__ import annotations

import json
import sys
import uuid
from contextlib import contextmanager
from typing import Any, Iterator, TextIO

from analytics.router import Answer, Router

MAX_TABLE_ROWS = 20
MAX_TABLE_COLUMNS = 8
HELP = """Ask about your customers, for example:
  who is about to churn?            top 10 customers by value
  tell me about C-1A2B3C4D          what segments do we have
  what sells with batting?          forecast revenue next quarter
  win-back campaign for lapsed customers
Follow-ups work ("same for last quarter", "show more"). Commands: help, new (fresh thread), quit."""


@contextmanager
def open_router(settings) -> Iterator[Router]:
    """A Router on the configured database (embedded when DATABASE_URL is unset), closed after."""
    from sql import connect_database

    db = connect_database(settings)
    try:
        try:
            from analytics.context import build_context

            ctx = build_context(settings, db)
        except ImportError:  # analytics not installed in this checkout: tools run without a cache
            from analytics.tools.registry import ToolContext

            ctx = ToolContext(db=db, settings=settings)
        yield Router(ctx, settings)
    finally:
        db.close()


# --- rendering ---------------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 1 or value == 0 else f"{value:.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value[:4]) + (" …" if len(value) > 4 else "")
    text = str(value)
    return text if len(text) <= 40 else text[:39] + "…"


def render_table(rows: list[dict[str, Any]], title: str = "") -> str:
    """A fixed-width text table of the rows' scalar columns (first MAX_TABLE_ROWS rows)."""
    columns = [k for k, v in rows[0].items() if not isinstance(v, dict)][:MAX_TABLE_COLUMNS]
    if not columns:
        return ""
    shown = rows[:MAX_TABLE_ROWS]
    cells = [[_cell(row.get(c)) for c in columns] for row in shown]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]

    def line(values: list[str]) -> str:
        return "  ".join(v.rjust(w) if _numeric(v) else v.ljust(w) for v, w in zip(values, widths)).rstrip()

    out = [title] if title else []
    out += [line(columns), line(["-" * w for w in widths])] + [line(r) for r in cells]
    if len(rows) > len(shown):
        out.append(f"… {len(rows) - len(shown)} more rows")
    return "\n".join(out)


def _numeric(text: str) -> bool:
    return bool(text) and text.replace(",", "").replace(".", "").replace("-", "").replace("%", "").isdigit()


def render_answer(answer: Answer) -> str:
    """The answer text, then a table for each list of rows in each tool result."""
    parts = [answer.text]
    for call in answer.tool_calls:
        if call.result is None:
            continue
        data = call.result.model_dump(mode="json")
        for key, value in data.items():
            if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
                table = render_table(value, title=f"{key.replace('_', ' ')} ({call.tool}):")
                if table:
                    parts.append(table)
    return "\n\n".join(parts)


def answer_json(question: str, answer: Answer) -> dict[str, Any]:
    """What `ask --json` prints: tool, arguments, result and answer text (plus the rest)."""
    first = answer.tool_calls[0] if answer.tool_calls else None
    return {
        "question": question,
        "tool": first.tool if first else None,
        "arguments": first.arguments if first else None,
        "result": first.result.model_dump(mode="json") if first and first.result else None,
        "error": first.error if first else None,
        "answer": answer.text,
        "source": answer.source,
        "tool_calls": [c.model_dump(mode="json") for c in answer.tool_calls],
        "clarification": answer.clarification.model_dump() if answer.clarification else None,
        "refusal": answer.refusal,
        "fallback_reason": answer.fallback_reason,
        "usage": answer.usage.model_dump(),
    }


# --- commands ----------------------------------------------------------------------------------------

def route_cli(settings, question: str, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Print the tool call a question maps to, as JSON; '-' reads one question per line."""
    out = stdout or sys.stdout
    with open_router(settings) as router:
        if question == "-":
            for line in stdin or sys.stdin:
                if line.strip():
                    print(json.dumps(router.route(line.rstrip("\n")).to_json()), file=out, flush=True)
        else:
            print(json.dumps(router.route(question).to_json()), file=out)
    return 0


def ask_cli(settings, question: str, as_json: bool = False, *, stdout: TextIO | None = None) -> int:
    """Answer one question. Exit 1 when every tool the answer needed failed, else 0."""
    out = stdout or sys.stdout
    with open_router(settings) as router:
        answer = router.answer(question)
    if as_json:
        print(json.dumps(answer_json(question, answer), default=str), file=out)
    else:
        print(render_answer(answer), file=out)
    failed = bool(answer.tool_calls) and all(c.error for c in answer.tool_calls)
    return 1 if failed else 0


def run_chat(settings, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """An interactive session with thread memory; 'new' starts a fresh thread."""
    source = stdin or sys.stdin
    out = stdout or sys.stdout
    interactive = source.isatty() if hasattr(source, "isatty") else False
    thread = f"console:{uuid.uuid4()}"
    with open_router(settings) as router:
        mode = "Claude" if router.client is not None else "offline router (set ANTHROPIC_API_KEY for Claude)"
        print(f"Customer Intelligence Bot — {mode}. Type 'help' for examples, 'quit' to leave.", file=out)
        while True:
            if interactive and stdin is None:
                try:
                    line = input("you> ")  # line editing and history in a terminal
                except (EOFError, KeyboardInterrupt):
                    break
            else:
                line = source.readline()
                if not line:
                    break
            question = line.strip()
            if not question:
                continue
            if question.lower() in {"quit", "exit", "bye", ":q"}:
                break
            if question.lower() in {"help", "?"}:
                print(HELP, file=out)
                continue
            if question.lower() in {"new", "reset"}:
                thread = f"console:{uuid.uuid4()}"
                print("(new thread)", file=out)
                continue
            answer = router.answer(question, thread_key=thread, user="console")
            # The chat shows what Slack would show: the same Block Kit views, as terminal text.
            from bot.render_text import answer_to_text

            print("bot> " + answer_to_text(answer).replace("\n", "\n     ") + "\n", file=out, flush=True)
    return 0
