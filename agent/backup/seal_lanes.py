"""Sealing a file's chunks off the thread that reads it.

Every chunk of a file is hashed into the file's content hash (in order: BLAKE3 is
sequential over the file) and sealed into a format-v2 blob (any order): keyed BLAKE3 for its
key, compression, encryption, and the blob's BLAKE3 for its id (agent.format.blob). On the
reading thread that would cap a backup at the speed of one core. :class:`SealLanes` moves
both off that thread: sealing on a pool (chunks in parallel), the content hash on one lane
of its own (in order). BLAKE3, zstd and AES-GCM release the GIL, so both run on other cores
while the reader goes on.

A chunk's id is known only once it is sealed (blob format v2 ids are content addresses), so
every chunk of a read file is sealed, also one the vault may already hold; the uploader then
sends only the blobs FindMissing names. Unchanged files never get here (the file cache), and
a chunk this node sealed before is recalled from the seal memo (agent.backup.seal_memo)
instead of being sealed again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import blake3

from bulwark.agent.backup.seal_memo import SealMemo
from bulwark.agent.format.blob import SealedChunk, seal_chunk, seal_with_key
from bulwark.agent.format.chunker import Piece
from bulwark.agent.format.codec import TensorHint
from bulwark.agent.format.crypto import chunk_id_and_key

#: hint_of(offset, length): the tensor layout of a chunk at that place in the file, if any.
HintOf = Callable[[int, int], TensorHint | None]


@dataclass(frozen=True)
class SealedPiece:
    """A chunk of a file at ``offset``, sealed."""

    offset: int
    sealed: SealedChunk


class SealLanes:
    """The sealing threads of one backup run: ``workers`` for blobs, one for content.

    At most ``depth`` pieces (each at most CHUNK_MAX bytes, plus its blob) of a file are
    copied and not yet handed back by :meth:`seal_file`, which bounds the memory the lanes
    add to about ``depth * 2 * CHUNK_MAX``.
    """

    def __init__(self, id_key: bytes, workers: int, depth: int | None = None,
                 facts: bool = True, memo: SealMemo | None = None) -> None:
        self._id_key = id_key
        self._facts = facts  # the codec's facts for the ransomware signals (agent.signals)
        self._memo = memo  # chunks sealed before: recalled, not sealed again
        self._depth = depth if depth is not None else 2 * workers + 2
        self._seal = ThreadPoolExecutor(workers, thread_name_prefix="seal")
        self._content = ThreadPoolExecutor(1, thread_name_prefix="content-hash")

    def seal_file(self, pieces: Iterable[Piece], hint_of: HintOf | None = None) -> FileSealing:
        """Seal the pieces of one file (see :class:`FileSealing`)."""
        return FileSealing(self, pieces, hint_of)

    def seal(self, data: bytes, hint: TensorHint | None = None) -> Future[SealedChunk]:
        """Seal one chunk that is not part of a file's stream (a pack, a manifest chunk)."""
        return self._seal.submit(self._seal_one, data, hint)

    def _seal_one(self, data: bytes, hint: TensorHint | None) -> SealedChunk:
        """Seal ``data``, or recall its id from the memo (then ``blob`` is None and the
        uploader seals it only if the vault lacks it: agent.format.blob.unrecalled)."""
        if self._memo is None:
            return seal_chunk(self._id_key, data, hint, with_facts=self._facts)
        tag, key = chunk_id_and_key(self._id_key, data)
        hit = self._memo.recall(tag, hint)
        if hit is not None and (hit[1] is not None or not self._facts):
            return SealedChunk(hit[0], key, None, len(data), hit[1], plaintext=data, hint=hint)
        sealed = seal_with_key(key, data, hint, with_facts=self._facts)
        self._memo.note(tag, hint, sealed.chunk_id, sealed.facts)
        return sealed

    def close(self) -> None:
        """Stop the threads once their queued work is done (or cancelled)."""
        self._seal.shutdown(wait=True, cancel_futures=True)
        self._content.shutdown(wait=True, cancel_futures=True)


class FileSealing:
    """Iterate it for the file's sealed pieces, in file order; once exhausted,
    :attr:`content_hash` is the BLAKE3-256 of the whole file.

    Errors of ``pieces`` (an ``OSError`` of the read) propagate from the iteration. If the
    iteration stops early (an error, a cancelled backup), the pieces still in work are
    cancelled or waited for, so no lane works for this file once the iteration is closed.
    """

    def __init__(self, lanes: SealLanes, pieces: Iterable[Piece], hint_of: HintOf | None):
        self._lanes = lanes
        self._pieces = pieces
        self._hint_of = hint_of
        self._hasher = blake3.blake3(max_threads=1)
        self._content_hash: bytes | None = None

    @property
    def content_hash(self) -> bytes:
        if self._content_hash is None:
            raise RuntimeError("the content hash is known once every piece was iterated")
        return self._content_hash

    def __iter__(self) -> Iterator[SealedPiece]:
        lanes = self._lanes
        pending: deque[tuple[int, Future[None], Future[SealedChunk]]] = deque()
        try:
            for piece in self._pieces:
                data = bytes(piece.data)  # the reader reuses its buffer for the next piece
                hint = self._hint_of(piece.offset, len(data)) if self._hint_of else None
                pending.append((
                    piece.offset,
                    lanes._content.submit(self._hasher.update, data),  # one lane: in order
                    lanes._seal.submit(lanes._seal_one, data, hint),
                ))
                while pending and (len(pending) > lanes._depth or pending[0][2].done()):
                    yield _resolved(pending.popleft())
            while pending:
                yield _resolved(pending.popleft())
        finally:
            if pending:  # stopped early: nothing may touch the hasher after we return
                for _, content, sealing in pending:
                    content.cancel()
                    sealing.cancel()
                wait([f for _, content, sealing in pending for f in (content, sealing)])
        self._content_hash = self._hasher.digest()


def _resolved(item: tuple[int, Future[None], Future[SealedChunk]]) -> SealedPiece:
    offset, content, sealing = item
    content.result()  # raises what the update raised
    return SealedPiece(offset, sealing.result())
