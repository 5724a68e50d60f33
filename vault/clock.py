"""The vault's only source of time (STYLE.md: time is a dependency).

Snapshot ingest times come from here. Code that needs "now" takes a ``Clock``; tests pass a
fake one, and the compliance clock (monotonic, restart-safe) replaces ``SystemClock`` later.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def now_ns(self) -> int:
        """Current vault time in nanoseconds since the Unix epoch."""
        ...


class SystemClock:
    """The host's wall clock."""

    def now_ns(self) -> int:
        return time.time_ns()
