"""Hashing a large file's chunks off the thread that reads it (issue #6).

Every chunk of a file is hashed twice: into the file's content hash (in order: BLAKE3 is
sequential over the file) and into its keyed chunk id and key (any order). On the reading
thread that caps a single file near 1 GB/s (read + FastCDC alone run at ~1.8 GB/s on the
bench machine), and a "next version" backup, which sends little, is bound by it.
:class:`HashLanes` moves both off that thread: chunk ids on a pool (chunks in parallel),
the content hash on one lane of its own (in order). BLAKE3 releases the GIL, so both run on
other cores while the reader goes on.

Small files gain nothing from the hand-off (a thread switch costs more than hashing a few
hundred KiB), so :meth:`HashLanes.hash_file` hashes inline below ``PARALLEL_MIN`` bytes;
both ways give the same pieces, ids and content hash.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

import blake3

from bulwark.agent.format.chunker import Piece
from bulwark.agent.format.crypto import chunk_id_and_key

#: Files at least this large are hashed on the lanes; smaller ones on the caller's thread.
PARALLEL_MIN = 8 << 20


@dataclass(frozen=True)
class HashedPiece:
    """A chunk of a file with its keyed id and key; ``data`` is an owned copy."""

    offset: int
    data: bytes
    chunk_id: bytes
    key: bytes


class HashLanes:
    """The hashing threads of one backup run: ``workers`` for chunk ids, one for content.

    At most ``depth`` pieces (each at most CHUNK_MAX bytes) of a file are copied and not
    yet handed back by :meth:`hash_file`, which bounds the memory the lanes add.
    """

    def __init__(self, id_key: bytes, workers: int, depth: int | None = None) -> None:
        self._id_key = id_key
        self._depth = depth if depth is not None else 2 * workers + 2
        self._ids = ThreadPoolExecutor(workers, thread_name_prefix="chunk-id")
        self._content = ThreadPoolExecutor(1, thread_name_prefix="content-hash")

    def hash_file(self, pieces: Iterable[Piece], size: int) -> FileHashing:
        """Hash the pieces of one file of ``size`` bytes (see :class:`FileHashing`)."""
        return FileHashing(self, pieces, parallel=size >= PARALLEL_MIN)

    def close(self) -> None:
        """Stop the threads once their queued work is done (or cancelled)."""
        self._ids.shutdown(wait=True, cancel_futures=True)
        self._content.shutdown(wait=True, cancel_futures=True)


class FileHashing:
    """Iterate it for the file's pieces with their ids, in file order; once exhausted,
    :attr:`content_hash` is the BLAKE3-256 of the whole file.

    Errors of ``pieces`` (an ``OSError`` of the read) propagate from the iteration. If the
    iteration stops early (an error, a cancelled backup), the pieces still hashing are
    cancelled or waited for, so no lane works for this file once the iteration is closed.
    """

    def __init__(self, lanes: HashLanes, pieces: Iterable[Piece], parallel: bool) -> None:
        self._lanes = lanes
        self._pieces = pieces
        self._parallel = parallel
        self._hasher = blake3.blake3(max_threads=1)
        self._content_hash: bytes | None = None

    @property
    def content_hash(self) -> bytes:
        if self._content_hash is None:
            raise RuntimeError("the content hash is known once every piece was iterated")
        return self._content_hash

    def __iter__(self) -> Iterator[HashedPiece]:
        if self._parallel:
            yield from self._on_lanes()
        else:
            for piece in self._pieces:
                self._hasher.update(piece.data)
                chunk_id, key = chunk_id_and_key(self._lanes._id_key, piece.data)
                yield HashedPiece(piece.offset, bytes(piece.data), chunk_id, key)
        self._content_hash = self._hasher.digest()

    def _on_lanes(self) -> Iterator[HashedPiece]:
        lanes = self._lanes
        pending: deque[tuple[int, bytes, Future[None], Future[tuple[bytes, bytes]]]] = deque()
        try:
            for piece in self._pieces:
                data = bytes(piece.data)  # the reader reuses its buffer for the next piece
                pending.append((
                    piece.offset,
                    data,
                    lanes._content.submit(self._hasher.update, data),  # one lane: in order
                    lanes._ids.submit(chunk_id_and_key, lanes._id_key, data),
                ))
                while pending and (len(pending) > lanes._depth or pending[0][3].done()):
                    yield _resolved(pending.popleft())
            while pending:
                yield _resolved(pending.popleft())
        finally:
            if pending:  # stopped early: nothing may touch the hasher after we return
                for *_, content, ids in pending:
                    content.cancel()
                    ids.cancel()
                wait([f for *_, content, ids in pending for f in (content, ids)])


def _resolved(item: tuple[int, bytes, Future[None], Future[tuple[bytes, bytes]]]) -> HashedPiece:
    offset, data, content, ids = item
    content.result()  # raises what the update raised
    chunk_id, key = ids.result()
    return HashedPiece(offset, data, chunk_id, key)
