"""Sends the sealed chunks the vault lacks, overlapping lookups and sending.

The caller (backup, on one thread) hands sealed chunks (format-v2 blobs, already
compressed and encrypted by the seal lanes) to :meth:`Uploader.add`. They are deduplicated
against everything seen in this run, asked about in batches (FindMissing, on a lookup
thread, so the caller seals the next batch meanwhile), and the missing ones are streamed to
the vault on one long PutChunks call by a sender thread, in messages of about
``message_bytes``. A blob the vault already holds is dropped: its id is its hash, so the
vault's copy is byte for byte the one this node would send.

Memory is bounded: at most two batches of ``batch_bytes`` of blobs wait for FindMissing
(one being looked up, one being filled) and at most ``queue_chunks`` blobs wait for the
sender, so peak memory is about ``2 * batch_bytes + queue_chunks * CHUNK_MAX``.

Ordering invariant (FORMAT.md): :meth:`finish` returns only after the vault answered
the PutChunks call, i.e. after every new blob is durable; only then may the snapshot
that references them be committed.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from bulwark.agent.client.vault import PutResult, VaultClient
from bulwark.agent.errors import VaultError
from bulwark.agent.format.blob import SealedChunk, unrecalled
from bulwark.protos.contract import IDS_PER_MESSAGE

_DONE = object()


@dataclass
class UploadStats:
    """What one backup sent; ``new_bytes`` counts blob bytes after compression+encryption."""

    new_chunks: int = 0
    new_bytes: int = 0
    reused_chunks: int = 0


class Uploader:
    """Deduplicating, pipelined chunk upload for one backup run. Not thread-safe."""

    def __init__(
        self,
        client: VaultClient,
        batch_bytes: int = 16 << 20,
        queue_chunks: int = 16,
        message_bytes: int = 2 << 20,
    ) -> None:
        self._client = client
        self._lookup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="find-missing")
        self._looking: Future[None] | None = None
        self._batch_bytes = batch_bytes
        # Small messages keep the sender's copies short and the vault busy in parallel with
        # it: 8 MiB messages left both ends waiting on each other's copies (issue #6).
        self._message_bytes = min(message_bytes, client.max_message_bytes // 2)
        self._seen: set[bytes] = set()
        self._pending: list[SealedChunk] = []
        self._pending_bytes = 0
        self._queue: queue.Queue[SealedChunk | object] = queue.Queue(
            maxsize=queue_chunks
        )
        self.stats = UploadStats()
        self._result: PutResult | None = None
        self._error: BaseException | None = None
        self._aborted = False
        self._sender = threading.Thread(target=self._send, name="put-chunks", daemon=True)
        self._sender.start()

    def add(self, sealed: SealedChunk) -> None:
        """Queue one sealed chunk; a no-op if this run has seen its id before."""
        if sealed.chunk_id in self._seen:
            return
        self._seen.add(sealed.chunk_id)
        self._pending.append(sealed)
        self._pending_bytes += sealed.weight
        if self._pending_bytes >= self._batch_bytes or len(self._pending) >= IDS_PER_MESSAGE:
            self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        self._raise_if_failed()  # after an abort or a failed send, nothing more is looked up
        self._wait_lookup()  # at most one batch is looked up while the next one fills
        self._looking = self._lookup.submit(self._dispatch, self._pending)
        self._pending = []
        self._pending_bytes = 0

    def _wait_lookup(self) -> None:
        if self._looking is not None:
            looking, self._looking = self._looking, None
            looking.result()  # raises what the lookup raised

    def _dispatch(self, batch: list[SealedChunk]) -> None:
        """Lookup thread: ask which chunks the vault lacks and queue those for sending."""
        missing = self._client.find_missing(p.chunk_id for p in batch)
        for item in batch:
            if item.chunk_id in missing:
                self._enqueue(unrecalled(item))  # a recalled chunk is sealed only now
            else:
                self.stats.reused_chunks += 1

    def _enqueue(self, item: SealedChunk | object) -> None:
        while True:
            self._raise_if_failed()
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_if_failed(self) -> None:
        if self._error is not None:
            raise self._error
        if not self._sender.is_alive():
            raise VaultError("the chunk upload stream ended early")

    def _messages(self) -> Iterator[list[tuple[bytes, bytes, bytes]]]:
        message: list[tuple[bytes, bytes, bytes]] = []
        size = 0
        while True:
            item = self._queue.get()
            if item is _DONE or self._aborted:
                break
            assert isinstance(item, SealedChunk) and item.blob is not None
            blob = item.blob
            if message and size + len(blob) > self._message_bytes:
                yield message
                message, size = [], 0
            message.append((item.chunk_id, blob, item.chunk_id))  # v2: the id is the digest
            size += len(blob)
            self.stats.new_chunks += 1
            self.stats.new_bytes += len(blob)
        if message and not self._aborted:
            yield message

    def _send(self) -> None:
        try:
            self._result = self._client.put_blobs(self._messages())
        except BaseException as exc:  # handed to the caller's thread
            self._error = exc

    def finish(self) -> UploadStats:
        """Send what is left and wait until the vault has made every blob durable."""
        try:
            self._flush()
            self._wait_lookup()
            self._enqueue(_DONE)
            self._sender.join()
            if self._error is not None:
                raise self._error
        finally:
            self._lookup.shutdown(wait=True, cancel_futures=True)
        return self.stats

    def abort(self) -> None:
        """Stop sending after an error elsewhere; the vault keeps what it got (harmless).

        The PutChunks stream ends at once (what is queued or half a message is dropped), so
        neither the sender thread nor the call outlives the run; ``add`` and ``finish``
        raise VaultError from now on."""
        self._aborted = True
        self._error = self._error or VaultError("upload aborted")
        self._lookup.shutdown(wait=False, cancel_futures=True)
        try:
            self._queue.put_nowait(_DONE)  # wakes a sender waiting for the next chunk
        except queue.Full:
            pass  # the sender is busy sending: it sees the abort at its next chunk
