"""A small progress bar for long work on a terminal; silent when output is not a terminal."""
from __future__ import annotations

import sys
import time
from typing import Callable, Protocol, TextIO


class Progress(Protocol):
    def __call__(self, done: int, total: int | None = None, note: str = "") -> None: ...


def no_progress(done: int, total: int | None = None, note: str = "") -> None:
    return None


def terminal_progress(label: str, stream: TextIO | None = None, width: int = 30) -> Progress:
    """A callback drawing `label [#####.....] 45% note` on stderr, at most ~10 times a second."""
    out = stream or sys.stderr
    if not out.isatty():
        return no_progress
    last = [0.0]

    def report(done: int, total: int | None = None, note: str = "") -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if not finished and now - last[0] < 0.1:
            return
        last[0] = now
        if total:
            filled = int(width * min(done, total) / total)
            bar = "#" * filled + "." * (width - filled)
            text = f"\r{label} [{bar}] {100 * done / total:5.1f}% {note}"
        else:
            text = f"\r{label} {done:,} {note}"
        out.write(text[:120].ljust(80))
        if finished:
            out.write("\n")
        out.flush()

    return report


ProgressCallback = Callable[..., None]
