"""An in-memory stand-in for the chunk calls of ``agent.client.vault.VaultClient``.

For unit tests of the logic above the client (uploader, fetcher, restore): ``find_missing``,
``put_blobs`` and ``get_chunks`` behave as the real client does against vaultd (the same
results, the same agent errors; tests/agent/client/test_vault.py runs the shared cases on
both), and every call is recorded:

* ``find_calls``: the ids of each ``find_missing`` call; ``put_messages``: the ids of each
  ``put_blobs`` message, in order; ``get_calls``: the ids of each ``get_chunks`` call.
* ``blobs``: what the "vault" holds (id -> blob); ``damaged``: ids whose stored blob fails
  its hash (``get_chunks`` stops there with IntegrityError, as on DATA_LOSS).
* ``put_error``: raised by ``put_blobs`` after it consumed ``fail_after_messages`` messages,
  as a vault that fails mid-stream; ``find_error``: raised by ``find_missing``.
* ``before_answer``: called by ``put_blobs`` after the last message, before it answers
  (a test holds the answer back there); ``before_get``: called with the ids at the start
  of each ``get_chunks`` call (a test holds a download there).

Thread-safe: the uploader and fetcher call it from their own threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator

import blake3

from bulwark.agent.client.vault import PutResult
from bulwark.agent.errors import IntegrityError


class FakeVaultClient:
    """In-memory chunk calls of a VaultClient (module docstring)."""

    address = "fake-vault"

    def __init__(self, max_message_bytes: int = 16 << 20) -> None:
        self.max_message_bytes = max_message_bytes
        self.blobs: dict[bytes, bytes] = {}
        self.damaged: set[bytes] = set()
        self.find_calls: list[list[bytes]] = []
        self.put_messages: list[list[bytes]] = []
        self.get_calls: list[list[bytes]] = []
        self.put_error: BaseException | None = None
        self.fail_after_messages = 0
        self.find_error: BaseException | None = None
        self.before_answer: Callable[[], None] | None = None
        self.before_get: Callable[[list[bytes]], None] | None = None
        self._lock = threading.Lock()

    def hold(self, *blobs: bytes) -> list[bytes]:
        """Store ``blobs`` as a vault would (id = BLAKE3 of the blob); returns their ids."""
        ids = [blake3.blake3(b).digest() for b in blobs]
        with self._lock:
            self.blobs.update(zip(ids, blobs, strict=True))
        return ids

    def find_missing(self, chunk_ids: Iterable[bytes]) -> set[bytes]:
        ids = list(chunk_ids)
        with self._lock:
            self.find_calls.append(ids)
            if self.find_error is not None:
                raise self.find_error
            return {c for c in ids if c not in self.blobs}

    def put_blobs(self, messages: Iterable[list[tuple[bytes, bytes, bytes]]]) -> PutResult:
        stored = present = stored_bytes = 0
        for count, message in enumerate(messages):
            if self.put_error is not None and count >= self.fail_after_messages:
                raise self.put_error
            with self._lock:
                self.put_messages.append([i for i, _, _ in message])
                for chunk_id, blob, digest in message:
                    if blake3.blake3(blob).digest() != digest:
                        raise IntegrityError(f"PutChunks: chunk {chunk_id.hex()[:8]}: "
                                             "digest mismatch")
                    if chunk_id in self.blobs:
                        present += 1
                    else:
                        self.blobs[chunk_id] = blob
                        stored += 1
                        stored_bytes += len(blob)
        if self.put_error is not None:
            raise self.put_error
        if self.before_answer is not None:
            self.before_answer()
        return PutResult(stored, present, stored_bytes)

    def get_chunks(self, chunk_ids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        ids = list(chunk_ids)
        with self._lock:
            self.get_calls.append(ids)
        if self.before_get is not None:
            self.before_get(ids)
        with self._lock:
            unknown = [c for c in ids if c not in self.blobs]
        if unknown:  # vaultd answers NOT_FOUND before streaming anything
            raise IntegrityError(f"GetChunks: chunk {unknown[0].hex()}: not held by the vault")
        for chunk_id in ids:
            if chunk_id in self.damaged:
                raise IntegrityError(f"GetChunks: chunk {chunk_id.hex()}: stored blob fails "
                                     "its hash")
            yield chunk_id, self.blobs[chunk_id]
