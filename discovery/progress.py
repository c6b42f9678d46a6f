"""Progress for long work: a live bar on a terminal, and for the steps of a long command one plain line
each when it ends (`Loading orders… 1,259,192 lines in 14.3 s`), terminal or not."""
from __future__ import annotations

import sys
import time
from typing import Callable, Protocol, TextIO


class Progress(Protocol):
    def __call__(self, done: int, total: int | None = None, note: str = "") -> None: ...


def no_progress(done: int, total: int | None = None, note: str = "") -> None:
    return None


def terminal_progress(label: str, stream: TextIO | None = None, width: int = 30,
                      end_line: bool = True) -> Progress:
    """A callback drawing `label [#####.....] 45% note` on stderr, at most ~10 times a second; silent when
    the stream is not a terminal. end_line=False leaves the finished bar for a Step to overwrite."""
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
        if finished and end_line:
            out.write("\n")
        out.flush()

    return report


class Step:
    """One step of a long command (generate, import, …): `progress` is its live bar on a terminal, and
    `done(what)` writes `label… what in 1.2 s` as a line of its own whatever the stream is, so a log
    or a pipe sees every step too.

        step = Step("Loading orders")
        summary = import_frame(db, frame, name, progress=step.progress)
        step.done(f"{summary.rows_loaded:,} lines")
    """

    def __init__(self, label: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.out = stream or sys.stderr
        self.terminal = self.out.isatty()
        self.progress = terminal_progress(label, self.out, end_line=False)
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started

    def done(self, what: str = "done") -> float:
        """Write the step's line; returns its seconds."""
        seconds = self.seconds
        text = f"{self.label}… {what} in {seconds:.1f} s"
        self.out.write(f"\r{text.ljust(120)}\n" if self.terminal else f"{text}\n")  # over the bar, on a terminal
        self.out.flush()
        return seconds


ProgressCallback = Callable[..., None]
