"""Space kept back on the audit log's file system for the moment the disk fills (issue 15).

A full disk once meant no refusal could be audited at all. The audit log keeps a file of
``size`` zero bytes next to it (``audit.sqlite.reserve``, written block by block and fsynced,
so the blocks are really allocated); when an append fails because the disk is full it
:meth:`release`\\ s the file and tries once more, which leaves room for thousands of entries
(about 500 bytes each). :meth:`ensure` re-creates the reserve once space is back (at most
once a minute), and gives up quietly while the disk is still full.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)
DEFAULT_SIZE = 8 << 20
RETRY_S = 60.0


class SpaceReserve:
    """A file of ``size`` bytes at ``path`` that can be given back when the disk is full."""

    def __init__(self, path: Path, size: int = DEFAULT_SIZE) -> None:
        self.path = Path(path)
        self.size = size
        self._lock = threading.Lock()
        self._next_try = 0.0

    @property
    def held(self) -> bool:
        try:
            return self.path.stat().st_size >= self.size
        except OSError:
            return False

    def ensure(self) -> bool:
        """Create the reserve if it is missing (rate-limited); True if it is held now."""
        with self._lock:
            if self.held:
                return True
            if time.monotonic() < self._next_try:
                return False
            self._next_try = time.monotonic() + RETRY_S
            try:
                with open(self.path, "wb") as f:
                    block = bytes(1 << 20)
                    for _ in range(0, self.size, len(block)):
                        f.write(block)
                    f.flush()
                    os.fsync(f.fileno())
                return True
            except OSError as exc:
                self.path.unlink(missing_ok=True)
                log.warning("cannot keep %d bytes in reserve at %s: %s", self.size, self.path,
                            exc.strerror or exc)
                return False

    def release(self) -> bool:
        """Delete the reserve to free its space; True if there was one to free."""
        with self._lock:
            try:
                self.path.unlink()
            except FileNotFoundError:
                return False
            self._next_try = time.monotonic() + RETRY_S
            log.critical("disk full: released the audit log's %d-byte reserve at %s so "
                         "refusals can still be audited; free space now", self.size, self.path)
            return True
