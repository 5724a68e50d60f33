"""The one faulty chunk store for every test tier that needs the store to fail on demand.

``FaultyStore`` is a ``MemoryStore`` (identical semantics: write-once, the shared checks of
``ChunkStore.put_many``, retention asked before every delete) that, once told, fails the way
the filesystem store does, with the same exceptions and messages:

* ``disk_full(after_puts=0)``: the put that would store blob number ``after_puts + 1`` from
  now raises ``StorageError`` with ``errno.ENOSPC`` (``disk_full`` is true:
  RESOURCE_EXHAUSTED over gRPC). Blobs of the same batch stored before it remain, as on a
  real disk ("blobs written before the failure remain", ``ChunkStore.put_many``).
* ``io_error(puts=True, gets=False, after_puts=0)``: the same with ``errno.EIO`` (INTERNAL),
  for puts, gets or both.
* ``slow(put_s=0, get_s=0)``: every put batch / get waits that long first; at most
  ``MAX_DELAY_S`` (a larger delay is a ``ValueError``, so no test can hang on it);
  ``heal()`` wakes every waiting call at once.
* ``rot(chunk_id, data)``: the stored bytes change behind the vault's back (bit rot at
  rest); ``lose(chunk_id)``: the blob vanishes behind the vault's back (no lock asked).
* ``object_lock(chunk_id)``: the store itself refuses to delete that blob (``BlobLocked``,
  whatever the lock oracle says), as an S3 object lock that outlasts the catalog's lock
  (``[store] lock_step_days``); ``object_unlock(chunk_id)`` when it passes.
* ``heal()``: every fault off (rot, loss and object locks stay: they are state, not faults).

``stored`` counts blobs newly stored, ``gets`` blobs read, so tests can see what reached the
store. Thread-safe like ``MemoryStore``: vaultd's servicers call it from several threads.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Sequence

from bulwark.vault.errors import BlobLocked, NotFound, StorageError, short_id
from bulwark.vault.store.base import Item
from bulwark.vault.store.memory import MemoryStore

MAX_DELAY_S = 5.0


def _os_error(code: int) -> OSError:
    return OSError(code, os.strerror(code))


class FaultyStore(MemoryStore):
    """A MemoryStore that fails on demand (module docstring); without faults, a MemoryStore."""

    def __init__(self) -> None:
        super().__init__()
        self._faults = threading.Lock()
        self._put_errno: int | None = None
        self._get_errno: int | None = None
        self._puts_left = 0  # blobs stored before the put error strikes
        self._put_delay = 0.0
        self._get_delay = 0.0
        self._healed = threading.Event()
        self._object_locked: set[bytes] = set()
        self.stored = 0
        self.gets = 0

    # -- faults ----------------------------------------------------------------------------

    def disk_full(self, after_puts: int = 0) -> None:
        """From now on, store ``after_puts`` more blobs, then fail every put with ENOSPC."""
        self._fail_puts(errno.ENOSPC, after_puts)

    def io_error(self, puts: bool = True, gets: bool = False, after_puts: int = 0) -> None:
        """Fail puts (after ``after_puts`` more blobs) and/or gets with EIO."""
        if puts:
            self._fail_puts(errno.EIO, after_puts)
        if gets:
            with self._faults:
                self._get_errno = errno.EIO

    def slow(self, put_s: float = 0.0, get_s: float = 0.0) -> None:
        """Delay every put batch by ``put_s`` and every get by ``get_s`` seconds."""
        for delay in (put_s, get_s):
            if not 0 <= delay <= MAX_DELAY_S:
                raise ValueError(f"delay {delay} s: must be within 0..{MAX_DELAY_S} s")
        with self._faults:
            self._put_delay, self._get_delay = put_s, get_s
            self._healed.clear()

    def heal(self) -> None:
        """Turn every fault off and wake the calls that are waiting in a delay."""
        with self._faults:
            self._put_errno = self._get_errno = None
            self._put_delay = self._get_delay = 0.0
            self._healed.set()

    def rot(self, chunk_id: bytes, data: bytes) -> None:
        """Replace a stored blob's bytes, as bit rot at rest would (NotFound if absent)."""
        with self._lock:
            if chunk_id not in self._blobs:
                raise NotFound(f"chunk {short_id(chunk_id)}: not in the store")
            self._blobs[chunk_id] = bytes(data)

    def lose(self, chunk_id: bytes) -> None:
        """Remove a blob without asking the lock oracle, as a lost file would."""
        super()._delete(chunk_id)

    def object_lock(self, chunk_id: bytes) -> None:
        """From now on the store itself refuses to delete ``chunk_id`` (``BlobLocked``)."""
        with self._faults:
            self._object_locked.add(chunk_id)

    def object_unlock(self, chunk_id: bytes) -> None:
        with self._faults:
            self._object_locked.discard(chunk_id)

    def _fail_puts(self, code: int, after_puts: int) -> None:
        if after_puts < 0:
            raise ValueError(f"after_puts {after_puts}: must be 0 or more")
        with self._faults:
            self._put_errno, self._puts_left = code, after_puts

    def _wait(self, delay: float) -> None:
        if delay:
            self._healed.wait(delay)

    # -- the store -------------------------------------------------------------------------

    def _store_verified(self, items: Sequence[Item]) -> list[bool]:
        with self._faults:
            delay = self._put_delay
        self._wait(delay)
        results = []
        for item in items:
            if not self.has(item[0]):  # a blob already stored costs no space: never fails
                with self._faults:
                    code = self._put_errno if self._puts_left == 0 else None
                    if code is None and self._put_errno is not None:
                        self._puts_left -= 1
                if code is not None:
                    raise StorageError.from_os(f"write chunk {short_id(item[0])}",
                                               _os_error(code))
            (new,) = super()._store_verified([item])
            with self._faults:
                self.stored += new
            results.append(new)
        return results

    def get(self, chunk_id: bytes) -> bytes:
        with self._faults:
            delay, code = self._get_delay, self._get_errno
        self._wait(delay)
        if code is not None:
            raise StorageError.from_os(f"read chunk {short_id(chunk_id)}", _os_error(code))
        data = super().get(chunk_id)
        with self._faults:
            self.gets += 1
        return data

    def size(self, chunk_id: bytes) -> int:
        return len(super().get(chunk_id))

    def _delete(self, chunk_id: bytes) -> None:
        with self._faults:
            locked = chunk_id in self._object_locked
        if locked:
            raise BlobLocked(f"chunk {short_id(chunk_id)}: the object store refuses to delete "
                             "it (retention)")
        super()._delete(chunk_id)
