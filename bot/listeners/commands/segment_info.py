"""/segment-info [segment|archetype]: a segment or archetype card, or the overview of the axes
and the largest archetypes."""
from __future__ import annotations

from bot.listeners.commands.runner import CommandError, ToolCalls, register_command


def parse(text: str) -> ToolCalls:
    text = " ".join(text.split())
    if not text:
        return [("analyze_segments", {"mode": "overview"}), ("segment_info", {})]
    if len(text) > 80:
        raise CommandError(f"{text[:40]!r}… is too long for a segment or archetype name (80 characters at most).")
    return [("segment_info", {"name": text})]


def register(app, deps) -> None:
    register_command(app, deps, "/segment-info", parse)
