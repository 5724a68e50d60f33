"""The schedule's thread: waits for each window, runs it, and waits for the next.

Time comes from ``wall()`` (UTC seconds) and waiting from ``wait(seconds)``, both injected,
so tests drive the schedule in seconds. A window already open when vaultd starts (its
cron fired less than its duration ago) is run for what is left of it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bulwark.vault.airgap.schedule import Schedule
from bulwark.vault.airgap.window import WindowBusy, Windows

log = logging.getLogger(__name__)


class Runner:
    def __init__(self, schedule: Schedule, windows: Windows,
                 wall: Callable[[], float] = time.time) -> None:
        self.schedule, self.windows, self.wall = schedule, windows, wall
        self.stop_event = threading.Event()
        self._thread: threading.Thread | None = None

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.wall(), UTC)

    def next_open(self) -> datetime | None:
        return self.schedule.next_open(self.now())

    def step(self) -> float:
        """Run the window open now, if any; returns how long to wait for the next one."""
        now = self.now()
        close = self.schedule.current(now)
        if close is not None and not self.windows.is_open:
            try:
                self.windows.run("schedule", (close - now).total_seconds())
            except WindowBusy:
                pass
            now = self.now()
        nxt = self.schedule.next_open(now)
        return 3600.0 if nxt is None else max((nxt - now).total_seconds(), 0.0)

    def _loop(self) -> None:
        while not self.stop_event.is_set():
            try:
                delay = self.step()
            except Exception:  # a failed window must not stop the schedule
                log.exception("air-gap window failed")
                delay = 1.0
            self.stop_event.wait(min(delay, 60.0))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="airgap", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.windows.stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
