"""Content-defined chunking (FastCDC 2020) with the frozen v1 parameters.

Boundaries depend only on the bytes, so an insertion moves few of them and identical content
on any node of a tenant yields identical chunks (FORMAT.md "Chunking"). Files are read as a
stream through a bounded buffer (~2 x CHUNK_MAX), never mmapped: a file truncated while it is
being read (a checkpoint rewritten by a training job) must give a short read, not SIGBUS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyfastcdc import FastCDC

from agent.format import CHUNK_AVG, CHUNK_GEAR_SEED, CHUNK_MAX, CHUNK_MIN, CHUNK_NORMALIZATION


@dataclass(frozen=True)
class Piece:
    """One chunk: its offset in the input and its bytes.

    ``data`` is ``bytes`` (owned, safe to keep and to hand to other threads) for
    :func:`chunk_file` and :func:`chunk_stream`; a ``memoryview`` into the caller's buffer for
    :func:`chunk_bytes`.
    """

    offset: int
    data: memoryview | bytes


def _fastcdc() -> FastCDC:
    return FastCDC(
        avg_size=CHUNK_AVG,
        min_size=CHUNK_MIN,
        max_size=CHUNK_MAX,
        normalized_chunking=CHUNK_NORMALIZATION,
        seed=CHUNK_GEAR_SEED,
    )


def chunk_bytes(buf: bytes | bytearray | memoryview) -> Iterator[Piece]:
    """Chunk an in-memory buffer; pieces are zero-copy views into ``buf``."""
    for c in _fastcdc().cut_buf(buf):
        yield Piece(c.offset, c.data)


def chunk_stream(stream: BinaryIO) -> Iterator[Piece]:
    """Chunk a binary stream with bounded memory; each piece's data is a ``bytes`` copy.

    pyfastcdc reuses its buffer for the next chunk, hence the copy (a memcpy of at most
    CHUNK_MAX, small next to hashing and encryption).
    """
    for c in _fastcdc().cut_stream(stream):
        yield Piece(c.offset, bytes(c.data))


#: Files up to this size are read whole and chunked in memory: setting up a stream costs
#: ~300 µs a file, 8x the whole small-file path (issue #6). Same cuts either way.
WHOLE_READ_MAX = CHUNK_MAX


def chunk_file(path: str | bytes | os.PathLike) -> Iterator[Piece]:
    """Chunk the file at ``path``; an empty file yields nothing. Memory stays ~8 MiB."""
    with open(path, "rb", buffering=0) as f:
        data = f.read(WHOLE_READ_MAX + 1)  # a file that grows meanwhile is streamed instead
        while 0 < len(data) <= WHOLE_READ_MAX:  # read() may return short: read to EOF
            more = f.read(WHOLE_READ_MAX + 1 - len(data))
            if not more:
                break
            data += more
        if len(data) > WHOLE_READ_MAX:
            del data
            f.seek(0)
            yield from chunk_stream(f)
            return
        for piece in chunk_bytes(data):
            yield Piece(piece.offset, bytes(piece.data))
