"""A small progress display for the back-fill (no dependency): one redrawn line on a terminal,
a line every tenth otherwise (logs, CI), always a final summary."""

from __future__ import annotations

import sys
import time
from typing import TextIO


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


class Progress:
    """Progress over simulated time: how much of the history window has been emitted."""

    def __init__(self, label: str, total: float, stream: TextIO | None = None, width: int = 28) -> None:
        self.label = label
        self.total = max(total, 1e-9)
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self._last_draw = 0.0
        self._last_tenth = -1
        self.done = 0.0
        self.count = 0

    def update(self, done: float, count: int) -> None:
        self.done, self.count = min(done, self.total), count
        now = time.monotonic()
        fraction = self.done / self.total
        if self.tty:
            if now - self._last_draw >= 0.2:
                self._last_draw = now
                self.stream.write("\r" + self.line(fraction, now) + "\x1b[K")
                self.stream.flush()
        elif int(fraction * 10) > self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self.stream.write(self.line(fraction, now) + "\n")
            self.stream.flush()

    def line(self, fraction: float, now: float) -> str:
        elapsed = now - self.started
        rate = self.count / elapsed if elapsed > 0 else 0.0
        eta = elapsed * (1 - fraction) / fraction if fraction > 0.01 else None
        filled = round(self.width * fraction)
        bar = "#" * filled + "." * (self.width - filled)
        tail = f" ETA {_clock(eta)}" if eta is not None else ""
        return f"{self.label} [{bar}] {fraction:4.0%}  {self.count:,} items  {rate:,.0f}/s{tail}"

    def finish(self, summary: str) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K")
        self.stream.write(f"{summary}\n")
        self.stream.flush()


__all__ = ["Progress"]
