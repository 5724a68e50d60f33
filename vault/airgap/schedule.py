"""Sync windows: cron expressions (UTC) with a duration, evaluated on injected time.

A window opens at each firing of its cron expression and stays open for its duration.
``current`` says whether a time lies inside a window (and when that window closes),
``next_open`` when the next one opens; both are pure functions of the time they are given,
so tests move time instead of waiting for it. Overlapping windows merge: the later close wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.triggers.cron import CronTrigger

from bulwark.vault.airgap.config import WindowSpec

_FIELDS = ("second", "minute", "hour", "day", "month", "day_of_week")


def trigger(expr: str) -> CronTrigger:
    """A UTC trigger for 5 fields (minute hour day month weekday) or 6 (second first).
    ``ValueError`` names what is wrong."""
    fields = expr.split()
    if len(fields) == 5:
        fields = ["0", *fields]
    if len(fields) != 6:
        raise ValueError(f"expected 5 or 6 cron fields, got {len(expr.split())} in {expr!r}")
    try:
        return CronTrigger(timezone=UTC, **dict(zip(_FIELDS, fields, strict=True)))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{expr!r}: {exc}") from None


def check(expr: str) -> None:
    trigger(expr)


class Schedule:
    """The windows of ``[[airgap.window]]``; times are ``datetime`` in UTC."""

    def __init__(self, windows: tuple[WindowSpec, ...]) -> None:
        self.windows = [(trigger(w.cron), timedelta(seconds=w.seconds)) for w in windows]

    def _opens_after(self, trig: CronTrigger, after: datetime) -> datetime | None:
        return trig.get_next_fire_time(None, after)

    def current(self, now: datetime) -> datetime | None:
        """When the window containing ``now`` closes, or ``None`` outside every window."""
        close = None
        for trig, length in self.windows:
            # The latest opening at or before now is among the firings after now - length.
            start = self._opens_after(trig, now - length)
            while start is not None and start <= now:
                end = start + length
                if end > now and (close is None or end > close):
                    close = end
                start = self._opens_after(trig, start + timedelta(microseconds=1))
        return close

    def next_open(self, now: datetime) -> datetime | None:
        """When the next window opens strictly after ``now`` (``None``: never)."""
        times = [t for trig, _ in self.windows
                 if (t := self._opens_after(trig, now + timedelta(microseconds=1)))]
        return min(times) if times else None

    @property
    def first_duration(self) -> timedelta:
        return self.windows[0][1]
