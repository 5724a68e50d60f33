"""One sync window, from open to close: hooks, connection, pull, result, audit, metrics.

Order: audit "airgap.window.open" → open hook → connect to the primary → pull until the
feed ends or the deadline passes → disconnect → close hook → state, audit
"airgap.window.close", metrics and a log line. The connection exists only between the
two hooks; a window that ends with lag above ``lag_limit_hours`` logs an ERROR and sets
the alert metric. One window at a time: a second ``open`` while one runs is refused.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager

from bulwark.vault.airgap.config import AirgapConfig
from bulwark.vault.airgap.hooks import run_hook
from bulwark.vault.airgap.metrics import Metrics
from bulwark.vault.airgap.pins import Pins
from bulwark.vault.airgap.puller import Limiter, Puller, Source
from bulwark.vault.airgap.state import State, WindowResult
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.errors import InvalidRequest, RetentionRefused, VaultError
from bulwark.vault.store.base import ChunkStore
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.retention import RetentionPolicy

log = logging.getLogger(__name__)
SECOND = 1_000_000_000


class WindowBusy(RetentionRefused):
    """A window is already open (FAILED_PRECONDITION at the edge)."""


class Windows:
    """Runs windows for the air-gap vault. ``connect()`` returns a context manager that
    yields a ``Source`` connected to the primary and disconnects on exit."""

    def __init__(self, config: AirgapConfig, connect: Callable[[], AbstractContextManager[Source]],
                 store: ChunkStore, catalog: Catalog, pins: Pins, audit: AuditLog, clock: Clock,
                 policy: RetentionPolicy, state: State, metrics: Metrics | None = None,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.config, self.connect = config, connect
        self.store, self.catalog, self.pins, self.audit = store, catalog, pins, audit
        self.clock, self.policy, self.state = clock, policy, state
        self.metrics = metrics or Metrics()
        self.wall, self.monotonic = wall, monotonic
        self._busy = threading.Lock()
        self.stopping = threading.Event()  # vaultd is stopping: close the window now

    @property
    def is_open(self) -> bool:
        return self._busy.locked()

    def run(self, trigger: str, seconds: float, actor: str = "airgap",
            role: str = "replica") -> WindowResult:
        """Open a window for ``seconds`` now, pull, close; returns (and records) the result."""
        if seconds <= 0:
            raise InvalidRequest(f"window length must be positive, got {seconds}")
        if not self._busy.acquire(blocking=False):
            raise WindowBusy("an air-gap window is already open; wait for it to close")
        try:
            return self._run(trigger, seconds, actor, role)
        finally:
            self._busy.release()

    def _run(self, trigger: str, seconds: float, actor: str, role: str) -> WindowResult:
        deadline = self.monotonic() + seconds
        result = WindowResult(trigger=trigger, opened_ns=int(self.wall() * SECOND))
        self.audit.append(actor, role, "airgap.window.open", self.config.primary, "allowed",
                          f"{trigger}, {seconds:g}s")
        self.metrics.open.set(1)
        log.info("air-gap window open (%s, %gs) to %s", trigger, seconds, self.config.primary)
        try:
            problem = run_hook(self.config.on_open, self.config.hook_timeout_s)
            if problem:
                result.error = f"open hook failed: {problem}"
            else:
                self._pull(result, lambda: self.stopping.is_set() or self.monotonic() >= deadline)
        finally:
            problem = run_hook(self.config.on_close, self.config.hook_timeout_s)
            if problem:
                result.error = "; ".join(filter(None, [result.error,
                                                       f"close hook failed: {problem}"]))
                result.outcome = "failed"
            result.closed_ns = int(self.wall() * SECOND)
            self._record(result, actor, role)
        return result

    def _pull(self, result: WindowResult, expired: Callable[[], bool]) -> None:
        try:
            with self.connect() as source:
                puller = Puller(source, self.store, self.catalog, self.pins, self.audit,
                                self.clock, self.policy, self.state, expired,
                                Limiter(self.config.max_bytes_per_s))
                puller.run(result)
        except VaultError as exc:
            result.outcome, result.error = "failed", str(exc)

    def _record(self, result: WindowResult, actor: str, role: str) -> None:
        if result.error and result.outcome != "failed":
            result.outcome = "failed"
        self.state.finish(result)
        alert = result.lag_ns > self.config.lag_limit_hours * 3600 * SECOND
        self.metrics.window(result, alert)
        self.metrics.open.set(0)
        summary = (f"{result.outcome}: {result.snapshots} snapshots, {result.chunks} chunks, "
                   f"{result.bytes} bytes, {len(result.refused)} refused, "
                   f"{result.pending} pending, lag {result.lag_ns / SECOND:.0f}s"
                   + (f"; {result.error}" if result.error else ""))
        outcome = "allowed" if result.outcome != "failed" else "error"
        self.audit.append(actor, role, "airgap.window.close", self.config.primary, outcome,
                          summary)
        log.info("air-gap window closed: %s", summary)
        if alert:
            log.error("ALERT: air-gap lag %.0fs exceeds the limit of %dh after this window",
                      result.lag_ns / SECOND, self.config.lag_limit_hours)
