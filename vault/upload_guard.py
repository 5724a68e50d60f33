"""Uploads share the store, prune excludes them: a shared/exclusive lock (docs/worm.md).

Every PutChunks message stores and records its blobs under :meth:`UploadGuard.upload`;
any number of them run at once (eight nodes' streams no longer queue behind one another).
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
    """Shared for uploads, exclusive for prune. Not reentrant."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._uploads = 0  # messages being stored now
        self._pruning = False
        self._prunes_waiting = 0

    @contextmanager
    def upload(self) -> Iterator[None]:
        with self._cond:
            while self._pruning or self._prunes_waiting:
                self._cond.wait()
            self._uploads += 1
        try:
            yield
        finally:
            with self._cond:
                self._uploads -= 1
                if not self._uploads:
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
