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


def chunk_file(path: str | bytes | os.PathLike) -> Iterator[Piece]:
    """Chunk the file at ``path``; an empty file yields nothing. Memory stays ~8 MiB."""
    with open(path, "rb", buffering=0) as f:
        yield from chunk_stream(f)
