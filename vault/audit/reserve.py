"""Space kept back on the audit log's file system for the moment the disk fills (issue 15).

A full disk once meant no refusal could be audited at all. The audit log keeps a file of
``size`` zero bytes next to it (``audit.sqlite.reserve``, written block by block and fsynced,
so the blocks are really allocated); when an append fails because the disk is full it
:meth:`release`\\ s the file and tries once more, which leaves room for thousands of entries
(about 500 bytes each). :meth:`ensure` re-creates the reserve once space is back (at most
once every ``retry_s`` seconds, a minute by default), and gives up quietly (a WARNING, no
exception) while the disk is still full.

vault.toml sets both (``ReserveSettings``, parsed here)::

    [audit]
    reserve_bytes = 8388608          # space kept back for refusals on a full disk; 0: none
    reserve_retry_seconds = 60       # after a release, how often to try to take it back
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)
DEFAULT_SIZE = 8 << 20
RETRY_S = 60.0
MAX_SIZE = 1 << 30
MAX_RETRY_S = 86_400
KEYS = ("reserve_bytes", "reserve_retry_seconds")


@dataclass(frozen=True)
class ReserveSettings:
    """``[audit]`` of vault.toml: the reserve's size in bytes (0: none) and retry interval."""

    size: int = DEFAULT_SIZE
    retry_s: float = RETRY_S


def parse_reserve(reader) -> ReserveSettings:
    """``[audit]`` from a vault.config reader: 0 <= reserve_bytes <= 1 GiB,
    0 <= reserve_retry_seconds <= 86400 (0: try at every append)."""
    size = reader.get("audit", "reserve_bytes", int, DEFAULT_SIZE)
    if not 0 <= size <= MAX_SIZE:
        raise reader.fail("audit.reserve_bytes", f"must be between 0 and {MAX_SIZE} (1 GiB), "
                          f"got {size}")
    retry = reader.get("audit", "reserve_retry_seconds", int, int(RETRY_S))
    if not 0 <= retry <= MAX_RETRY_S:
        raise reader.fail("audit.reserve_retry_seconds",
                          f"must be between 0 and {MAX_RETRY_S}, got {retry}")
    return ReserveSettings(size, float(retry))


class SpaceReserve:
    """A file of ``size`` bytes at ``path`` that can be given back when the disk is full.

    ``size`` 0 keeps no reserve (``ensure`` and ``release`` do nothing and return False).
    After a release or a failed ``ensure``, the next attempt waits ``retry_s`` seconds of
    ``monotonic`` (injectable for tests).
    """

    def __init__(self, path: Path, size: int = DEFAULT_SIZE, retry_s: float = RETRY_S,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.path = Path(path)
        self.size = size
        self.retry_s = retry_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._next_try = 0.0

    @property
    def held(self) -> bool:
        """True if the reserve file is there at full size (never with ``size`` 0)."""
        if self.size <= 0:
            return False
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Create the reserve if it is missing (rate-limited); True if it is held now."""
        if self.size <= 0:
            return False
        with self._lock:
            if self.held:
                return True
            if self._monotonic() < self._next_try:
                return False
            self._next_try = self._monotonic() + self.retry_s
            try:
                with open(self.path, "wb") as f:
                    block = bytes(1 << 20)
                    for offset in range(0, self.size, len(block)):
                        f.write(block[:self.size - offset])
                    f.flush()
                    os.fsync(f.fileno())
                log.info("the audit log keeps %d bytes in reserve at %s", self.size, self.path)
                return True
            except OSError as exc:
                self.path.unlink(missing_ok=True)
                log.warning("cannot keep %d bytes in reserve at %s: %s", self.size, self.path,
                            exc.strerror or exc)
                return False

    def release(self) -> bool:
        """Delete the reserve to free its space; True if there was one to free."""
        if self.size <= 0:
            return False
        with self._lock:
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
            self._next_try = self._monotonic() + self.retry_s
            log.critical("disk full: released the audit log's %d-byte reserve at %s so "
                         "refusals can still be audited; free space now", self.size, self.path)
            return True
