"""The console side of the router: `python app.py route|ask|chat`. The same Router and tools as
Slack, handed over by the composition root; answers are the Slack views rendered as terminal text
(bot/render_text.py), one renderer for `ask` and `chat`."""
from __future__ import annotations

import json
import os
import sys
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from analytics.router import Answer, Router
from bot.render_text import answer_to_text
from bot.views.export import export_csv
from sql.safe_files import private_dir

HELP = """Ask about your customers, for example:
  who is about to churn?            top 10 customers by value
  tell me about C-1A2B3C4D          what segments do we have
  what sells with batting?          forecast revenue next quarter
  win-back campaign for lapsed customers
Follow-ups work ("same for last quarter", "show more", "export csv", an option's number).
Commands: help, new (fresh thread), quit."""
EXPORT_WORDS = {"export csv", "export", "export to csv", "csv", "download csv", "export the list"}


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


def route_cli(router: Router, question: str, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """Print the tool call a question maps to, as JSON; '-' reads one question per line."""
    out = stdout or sys.stdout
    if question == "-":
        for line in stdin or sys.stdin:
            if line.strip():
                print(json.dumps(router.route(line.rstrip("\n")).to_json()), file=out, flush=True)
    else:
        print(json.dumps(router.route(question).to_json()), file=out)
    return 0


def ask_cli(router: Router, question: str, as_json: bool = False, *, stdout: TextIO | None = None) -> int:
    """Answer one question. Exit 1 when every tool the answer needed failed, else 0."""
    out = stdout or sys.stdout
    answer = router.answer(question)
    if as_json:
        print(json.dumps(answer_json(question, answer), default=str), file=out)
    else:
        print(answer_to_text(answer), file=out)
    failed = bool(answer.tool_calls) and all(c.error for c in answer.tool_calls)
    return 1 if failed else 0


def export_last(router: Router, answer: Answer | None) -> str:
    """The typed "export csv": the last answer's list as a CSV file under DATA_DIR/exports (0600,
    customers by C-id as in Slack); returns what to tell the person."""
    call = next((c for c in (answer.tool_calls if answer else []) if c.result is not None), None)
    if call is None:
        return "There is no list to export yet: ask for one first (e.g. 'top 10 customers by value')."
    content, note = export_csv(router.ctx, call.tool, dict(call.arguments or {}), call.result)
    folder = Path(router.ctx.settings.data_dir) / "exports"
    private_dir(folder)  # 0700 even when the folder already existed
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{call.tool}-{stamp}-{uuid.uuid4().hex[:6]}.csv"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
    rows = max(content.count(b"\n") - 1, 0)
    return f"Wrote {rows:,} rows to {path}" + (f"\n{note}" if note else "")


def run_chat(router: Router, *, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """An interactive session with thread memory; 'new' starts a fresh thread."""
    source = stdin or sys.stdin
    out = stdout or sys.stdout
    interactive = source.isatty() if hasattr(source, "isatty") else False
    thread = f"console:{uuid.uuid4()}"
    last: Answer | None = None
    mode = "Claude" if router.client is not None else "offline router (set ANTHROPIC_API_KEY for Claude)"
    print(f"Customer Intelligence Bot — {mode}.\nType 'help' for examples, 'quit' to leave.", file=out)
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
        command = question.lower().rstrip(".!")
        if command in {"quit", "exit", "bye", ":q"}:
            break
        if command in {"help", "?"}:
            print(HELP, file=out)
            continue
        if command in {"new", "reset"}:
            thread, last = f"console:{uuid.uuid4()}", None
            print("(new thread)", file=out)
            continue
        if command in EXPORT_WORDS:
            print("bot> " + export_last(router, last).replace("\n", "\n     ") + "\n", file=out, flush=True)
            continue
        last = router.answer(question, thread_key=thread, user="console")
        # The chat shows what Slack would show: the same Block Kit views, as terminal text.
        print("bot> " + answer_to_text(last).replace("\n", "\n     ") + "\n", file=out, flush=True)
    return 0
