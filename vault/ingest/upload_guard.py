"""Uploads share the store, prune excludes them: a shared/exclusive lock (docs/worm.md).

Every PutChunks message stores and records its blobs under :meth:`UploadGuard.upload`;
up to ``max_uploads`` of them run at once, so several nodes' streams no longer queue behind
one another, while vaultd's memory stays bounded however many nodes send (8 agents at once:
peak 176-212 MiB with 4, 200-289 MiB unbounded; the same 118-126 MB/s; issue #6).
Prune deletes under :meth:`UploadGuard.prune`, alone: it waits for the messages being
stored to finish, and new ones wait for it, so a chunk prune is deleting is never recorded
by an upload at the same time. A waiting prune holds back new uploads (it would starve
otherwise while nodes keep sending); it works in batches, so uploads wait one batch at most.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class UploadGuard:
    """Shared for up to ``max_uploads`` uploads, exclusive for prune. Not reentrant."""

    def __init__(self, max_uploads: int = 4) -> None:
        self._max_uploads = max_uploads
        self._cond = threading.Condition()
        self._uploads = 0  # messages being stored now
        self._pruning = False
        self._prunes_waiting = 0

    @property
    def prunes_waiting(self) -> int:
        """How many prunes wait for the uploads in progress (new uploads wait behind them)."""
        with self._cond:
            return self._prunes_waiting

    @contextmanager
    def upload(self) -> Iterator[None]:
        with self._cond:
            while (self._pruning or self._prunes_waiting
                   or self._uploads >= self._max_uploads):
                self._cond.wait()
            self._uploads += 1
        try:
            yield
        finally:
            with self._cond:
                self._uploads -= 1
                self._cond.notify_all()

    @contextmanager
    def prune(self) -> Iterator[None]:
        with self._cond:
            self._prunes_waiting += 1
            try:
                while self._pruning or self._uploads:
                    self._cond.wait()
            finally:
                self._prunes_waiting -= 1
            self._pruning = True
        try:
            yield
        finally:
            with self._cond:
                self._pruning = False
                self._cond.notify_all()
