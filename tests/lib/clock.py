"""The one fake clock for every test: time moves only when a test says so.

``FakeClock(t)`` answers ``now_ns()`` with ``t`` plus ``step`` per call so far (``step=0``:
frozen, as retention rules are tested; ``step>0``: strictly increasing, as ids and audit
entries made one after another need). ``advance`` moves it by a duration.
"""

from __future__ import annotations

NS_PER_S = 1_000_000_000
DAY_NS = 86_400 * NS_PER_S


class FakeClock:
    """Satisfies ``vault.worm.clock.Clock`` and anything else that asks ``now_ns()``."""

    def __init__(self, t: int = 1_750_000_000 * NS_PER_S, step: int = 0) -> None:
        self.t = t
        self.step = step

    def now_ns(self) -> int:
        self.t += self.step
        return self.t

    def advance(self, ns: int = 0, *, seconds: float = 0, days: float = 0) -> int:
        """Move the clock forward (or back, for rollback tests); returns the new time."""
        self.t += ns + int(seconds * NS_PER_S) + int(days * DAY_NS)
        return self.t
