"""A one-line terminal progress bar fed by the library's progress callbacks."""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 28


class ProgressBar:
    """Redraws at most ten times a second on ``stream``; silent when it is not a tty."""

    def __init__(self, label: str, stream: TextIO = sys.stderr, enabled: bool = True) -> None:
        self.label = label
        self.stream = stream
        self.enabled = enabled and stream.isatty()
        self.started = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def __call__(self, done: int, total: int, current: str) -> None:
        now = time.monotonic()
        if not self.enabled or now - self._last < 0.1:
            return
        self._last = now
        fraction = done / total if total else 1.0
        filled = int(_WIDTH * min(fraction, 1.0))
        rate = done / max(now - self.started, 1e-6) / 1e6
        name = current[-40:]
        self.stream.write(
            f"\r{self.label} [{'#' * filled}{' ' * (_WIDTH - filled)}] {fraction:4.0%} "
            f"{done / 1e6:,.1f}/{total / 1e6:,.1f} MB {rate:,.0f} MB/s {name:<40}"
        )
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
