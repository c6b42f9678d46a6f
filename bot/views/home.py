"""The App Home view (≤ 100 blocks): headline numbers, discovery run health, top at-risk
customers, biggest archetypes, and suggested questions as buttons. Pure: Dashboard in, view out.
Home tabs do not take `table` blocks, so lists are compact mrkdwn lines."""
from __future__ import annotations

from typing import Any

from bot.views import blocks as bk
from bot.views.answer import RUN_QUESTION
from bot.views.format import format_value, humanize, plain
from bot.views.help import SUGGESTED_QUESTIONS
from bot.views.results import result_rows

MAX_LIST_LINES = 10
# The review-and-alerts subscription controls: a channel picker and one button per choice (the
# action reads the picked channel from the view's state, under these ids).
DIGEST_BLOCK = "digest_subscription"
DIGEST_CHANNEL = "digest_channel"
DIGEST_CHOICE = "digest_choice"
DIGEST_CHOICES = (("Weekly review", "weekly"), ("Daily review", "daily"), ("Stop", "off"))


def message_home_view(message: str) -> dict[str, Any]:
    return {"type": "home", "blocks": [bk.header("Customer Intelligence"), *bk.sections(message)]}


def _run_lines(current: dict | None, latest: dict | None) -> str:
    if not current:
        state = f" The latest run {latest['status']}." if latest else ""
        return "No published discovery run yet: run `python app.py discover`." + state
    counts = current.get("counts") or {}
    text = (f"Run {current['run_id']} · data as of {str(current.get('as_of'))[:10]} · "
            f"finished {str(current.get('finished_at') or '')[:16].replace('T', ' ')}")
    if counts:
        text += " · " + ", ".join(f"{format_value(v, k)} {k.replace('_', ' ')}" for k, v in list(counts.items())[:4])
    if latest and latest.get("run_id") != current.get("run_id"):
        if latest["status"] == "failed":
            text += f"\n⚠️ A newer run ({latest['run_id']}) failed; showing run {current['run_id']}."
        elif latest["status"] == "running":
            text += f"\n🔄 Run {latest['run_id']} is in progress."
        elif latest["status"] == "rejected":
            text += f"\n⚠️ Run {latest['run_id']} was rejected by its quality checks."
    else:
        text = "✅ " + text
    return text


def _list_lines(result: Any, limit: int = MAX_LIST_LINES) -> str:
    all_columns, rows = result_rows(result)
    columns = all_columns[:5]
    lines = []
    for row in rows[:limit]:
        values = dict(zip(all_columns, row))
        lines.append("• " + " · ".join(f"{humanize(c)}: {format_value(values.get(c), c)}" for c in columns))
    return "\n".join(lines)


def digest_blocks(subscribed: list[dict]) -> list[bk.Block]:
    """The customer review and alerts: who gets them, and the controls to change that."""
    listed = ", ".join(f"<#{s['channel_id']}> ({s['cadence']})" for s in subscribed[:20]) or "no channel yet"
    picker = {"type": "conversations_select", "action_id": DIGEST_CHANNEL,
              "placeholder": {"type": "plain_text", "text": "Pick a channel"},
              "filter": {"include": ["public", "private"], "exclude_bot_users": True}}
    return [bk.divider(),
            *bk.sections("*Customer review and alerts*\nPosted unasked to: " + listed),
            bk.actions([picker, *(bk.button(text, f"{DIGEST_CHOICE}_{choice}", choice,
                                            "danger" if choice == "off" else None)
                                  for text, choice in DIGEST_CHOICES)], block_id=DIGEST_BLOCK)]


def home_view(board) -> dict[str, Any]:
    out: list[bk.Block] = [bk.header("Customer Intelligence")]
    headline = board.headline
    if headline:
        out.extend(bk.fields_section([
            ("Customers", format_value(headline["customers"])),
            ("Revenue", format_value(float(headline["revenue"]), "revenue")),
            ("Customers at high risk", format_value(headline["customers_at_risk"])),
            ("Lifetime value at risk", format_value(float(headline["value_at_risk"]), "value_at_risk")),
        ]))
    out.append(bk.context(_run_lines(board.current_run, board.latest_run)))
    for title, result in (("Top customers at risk", board.at_risk), ("Biggest archetypes", board.archetypes)):
        if result is None:
            continue
        out.append(bk.divider())
        out.extend(bk.sections(f"*{title}*\n{plain(result).get('summary', '')}"))
        lines = _list_lines(result)
        if lines:
            out.extend(bk.sections(lines))
    if board.problems:
        out.append(bk.context("Unavailable right now: " + ", ".join(board.problems)))
    out.extend(digest_blocks(getattr(board, "subscriptions", [])))
    out.append(bk.divider())
    out.extend(bk.sections("*Ask me*"))
    out.append(bk.actions([bk.button(q, f"{RUN_QUESTION}_{i}", q) for i, q in enumerate(SUGGESTED_QUESTIONS)]))
    out.append(bk.context("Customers appear as pseudonymous ids (C-XXXXXXXX). Mention me or DM me for more."))
    return {"type": "home", "blocks": out[: bk.MAX_HOME_BLOCKS]}
