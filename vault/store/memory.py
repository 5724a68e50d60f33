"""In-memory chunk store with exactly the semantics of the filesystem store (tests only).

Retention is enforced by the same path as every store (``ChunkStore.delete`` asks the lock
oracle), so the conformance suite's retention cases hold for both."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

from bulwark.vault.errors import NotFound, short_id
from bulwark.vault.store.base import ChunkStore, Item


class MemoryStore(ChunkStore):
    """A dict behind a lock. Write-once like every store; durable only for the process."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, bytes] = {}
        self._lock = threading.Lock()

    def _store_verified(self, items: Sequence[Item]) -> list[bool]:
        results = []
        with self._lock:
            for chunk_id, data, _digest in items:
                if chunk_id in self._blobs:
                    results.append(False)
                else:
                    self._blobs[chunk_id] = bytes(data)
                    results.append(True)
        return results

    def get(self, chunk_id: bytes) -> bytes:
        with self._lock:
            try:
                return self._blobs[chunk_id]
            except KeyError:
                raise NotFound(f"chunk {short_id(chunk_id)}: not in the store") from None

    def has(self, chunk_id: bytes) -> bool:
        with self._lock:
            return chunk_id in self._blobs

    def _delete(self, chunk_id: bytes) -> None:
        with self._lock:
            if self._blobs.pop(chunk_id, None) is None:
                raise NotFound(f"chunk {short_id(chunk_id)}: not in the store")

    def iter_ids(self) -> Iterator[bytes]:
        with self._lock:
            ids = list(self._blobs)
        return iter(ids)

    def size(self, chunk_id: bytes) -> int:
        return len(self.get(chunk_id))
