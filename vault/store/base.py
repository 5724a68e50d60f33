"""The chunk store interface and the checks every backend shares.

A store maps a 32-byte chunk id to an opaque blob (ciphertext). It is write-once: a blob,
once stored under an id, is never replaced — a second put under the same id is a no-op
that returns ``False``, whatever its bytes. The store keeps no digests; the catalog does
(``vault.catalog.db``), and readers re-hash what ``get`` returns.

Write order (FORMAT.md, "ordering invariants"): a blob is durable in the store before the
catalog records it, so every catalog row has a blob. A blob without a row is harmless
garbage that GC removes later.

Retention, defence in depth: every store asks its ``LockOracle`` before deleting and refuses
(``BlobLocked``) a blob the oracle reports as locked, whoever asks, prune included. vaultd
wires the catalog's lock view (``vault.worm.prune.CatalogLocks``); a store without an oracle
locks nothing (unit tests of the plain interface).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import blake3

from bulwark.vault.errors import BlobLocked, IntegrityError, InvalidRequest, short_id

ID_SIZE = 32
DIGEST_SIZE = 32

Item = tuple[bytes, bytes, bytes]
"""``(chunk_id, data, digest)`` as handed to ``put_many``."""


class LockOracle(Protocol):
    def why_locked(self, chunk_id: bytes) -> str | None:
        """Why the blob must not be deleted now, or ``None`` if it may be."""
        ...


class NoLocks:
    """The oracle of a store nobody wired: nothing is locked."""

    def why_locked(self, chunk_id: bytes) -> str | None:
        return None


def blob_digest(data: bytes) -> bytes:
    """Unkeyed BLAKE3-256 of a blob: the vault's keyless integrity check."""
    return blake3.blake3(data).digest()


def verify_item(chunk_id: bytes, data: bytes, digest: bytes) -> None:
    """Raise ``InvalidRequest`` for a malformed id or digest, ``IntegrityError`` on mismatch."""
    if len(chunk_id) != ID_SIZE:
        raise InvalidRequest(
            f"chunk id {short_id(chunk_id)}: {len(chunk_id)} bytes, expected {ID_SIZE}"
        )
    if len(digest) != DIGEST_SIZE:
        raise InvalidRequest(
            f"chunk {short_id(chunk_id)}: digest is {len(digest)} bytes, expected {DIGEST_SIZE}"
        )
    computed = blob_digest(data)
    if computed != digest:
        raise IntegrityError(
            f"chunk {short_id(chunk_id)}: digest mismatch "
            f"(sent {short_id(digest)}, computed {short_id(computed)})"
        )


class ChunkStore(ABC):
    """Write-once blob storage keyed by 32-byte chunk ids.

    Implementations provide ``_store_verified`` and ``_delete``; ``put``/``put_many`` and
    ``delete`` do the shared checks first so every backend refuses exactly the same input
    and deletes exactly the same blobs.
    """

    locks: LockOracle = NoLocks()

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release what the store holds open (the filesystem store's lock)."""

    def set_lock_oracle(self, oracle: LockOracle) -> None:
        """Ask ``oracle`` before every delete from now on."""
        self.locks = oracle

    def put(self, chunk_id: bytes, data: bytes, digest: bytes) -> bool:
        """Store ``data`` under ``chunk_id``; ``True`` if newly stored, ``False`` if present.

        ``digest`` must equal the unkeyed BLAKE3 of ``data`` (``IntegrityError`` otherwise,
        nothing stored). Never overwrites: an existing blob is left untouched even if
        ``data`` differs. Durable before it returns.
        """
        return self.put_many([(chunk_id, data, digest)])[0]

    def put_many(self, items: Iterable[Item]) -> list[bool]:
        """Store a batch; one bool per item, in order, as for ``put``.

        Every item is verified before anything is written: one bad digest or id refuses the
        whole batch and stores nothing. An id repeated within the batch is stored once (the
        first occurrence; later ones report ``False``). Returns only after every new blob
        and its directory entry are durable (fsync batched per touched directory).
        Raises ``StorageError`` on I/O failure; blobs written before the failure remain.
        """
        batch = list(items)
        for chunk_id, data, digest in batch:
            verify_item(chunk_id, data, digest)
        results = self._store_verified(batch)
        self._seal([item[0] for item, new in zip(batch, results, strict=True) if new])
        return results

    def _seal(self, chunk_ids: Sequence[bytes]) -> None:  # noqa: B027 - optional hook
        """Protect newly stored blobs further where the backend can (fs: immutable bit)."""

    @abstractmethod
    def _store_verified(self, items: Sequence[Item]) -> list[bool]:
        """Store already verified items with the semantics of ``put_many``."""

    @abstractmethod
    def get(self, chunk_id: bytes) -> bytes:
        """The stored blob, as stored (not re-verified). ``NotFound`` if absent."""

    @abstractmethod
    def has(self, chunk_id: bytes) -> bool:
        """Whether a blob is stored under ``chunk_id``."""

    def has_many(self, chunk_ids: Iterable[bytes]) -> set[bytes]:
        """The subset of ``chunk_ids`` that is stored."""
        return {c for c in set(chunk_ids) if self.has(c)}

    def delete(self, chunk_id: bytes) -> None:
        """Remove a blob (prune only). ``BlobLocked`` if the lock oracle says it is locked
        (nothing removed), ``NotFound`` if absent."""
        reason = self.locks.why_locked(chunk_id)
        if reason is not None:
            raise BlobLocked(f"chunk {short_id(chunk_id)}: {reason}; the store will not delete it")
        self._delete(chunk_id)

    @abstractmethod
    def _delete(self, chunk_id: bytes) -> None:
        """Remove a blob the oracle allowed. ``NotFound`` if absent."""

    @abstractmethod
    def iter_ids(self) -> Iterator[bytes]:
        """Every stored id, each exactly once, in no particular order."""

    @abstractmethod
    def size(self, chunk_id: bytes) -> int:
        """Stored size of the blob in bytes. ``NotFound`` if absent."""
