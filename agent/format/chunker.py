"""Content-defined chunking (FastCDC 2020) with the frozen v1 parameters.

Boundaries depend only on the bytes, so an insertion moves few of them and identical content
on any node of a tenant yields identical chunks (FORMAT.md "Chunking"). Files are read with
readinto() into one reused buffer (``READ_BUFFER``), never mmapped: a file truncated while it
is being read (a checkpoint rewritten by a training job) must give a short read, not SIGBUS.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pyfastcdc import FastCDC

from bulwark.agent.format.constants import (
    CHUNK_AVG,
    CHUNK_GEAR_SEED,
    CHUNK_MAX,
    CHUNK_MIN,
    CHUNK_NORMALIZATION,
)


@dataclass(frozen=True)
class Piece:
    """One chunk: its offset in the input and its bytes.

    ``data`` is ``bytes`` (owned, safe to keep and to hand to other threads) for
    :func:`chunk_stream`; a ``memoryview`` into the caller's buffer for :func:`chunk_bytes`;
    for :func:`chunk_file` and :func:`chunk_reader`, a ``memoryview`` valid only until the
    next piece is requested (copy what you keep: the buffer behind it is reused).
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

#: chunk_file's buffer for larger files. Cutting needs CHUNK_MAX bytes ahead (or EOF), so it
#: is refilled when less is left uncut: each refill moves < CHUNK_MAX and reads >= 3 x that.
READ_BUFFER = 4 * CHUNK_MAX


def chunk_file(path: str | bytes | os.PathLike) -> Iterator[Piece]:
    """Chunk the file at ``path``; an empty file yields nothing. Memory stays ``READ_BUFFER``.

    Pieces are views into one reused buffer (see :class:`Piece`), so the bytes are copied
    once, by the kernel into that buffer, and again only by whoever keeps a piece: 388 MB
    chunk at 0.9-1.2 GB/s with pyfastcdc's stream reader and a copy per piece, ~2 GB/s so.
    """
    with open(path, "rb", buffering=0) as f:
        yield from chunk_reader(f)


def chunk_reader(f: BinaryIO) -> Iterator[Piece]:
    """Chunk an open binary file from its current position to its end, as
    :func:`chunk_file` does (same cuts as :func:`chunk_bytes` over the same bytes, pieces
    valid until the next one is requested). The backup chunks its spooled manifest so."""
    data = f.read(WHOLE_READ_MAX + 1)  # a file that grows meanwhile is streamed instead
    while 0 < len(data) <= WHOLE_READ_MAX:  # read() may return short: read to EOF
        more = f.read(WHOLE_READ_MAX + 1 - len(data))
        if not more:
            break
        data += more
    if len(data) <= WHOLE_READ_MAX:
        yield from chunk_bytes(data)
        return
    buf = bytearray(READ_BUFFER)
    view = memoryview(buf)
    view[: len(data)] = data
    start, end, offset, eof = 0, len(data), 0, False  # view[start:end] is not cut yet
    del data
    cdc = _fastcdc()
    while True:
        if not eof and end - start < CHUNK_MAX:
            view[: end - start] = view[start:end]  # memmove: the ranges may overlap
            start, end = 0, end - start
            while end < READ_BUFFER:
                n = f.readinto(view[end:])
                if not n:
                    eof = True
                    break
                end += n
        if start == end:
            return
        # the same cuts as over the whole file: a cut looks at most CHUNK_MAX bytes ahead
        for c in cdc.cut_buf(view[start:end]):
            yield Piece(offset, c.data)
            start += c.length
            offset += c.length
            if not eof and end - start < CHUNK_MAX:
                break
