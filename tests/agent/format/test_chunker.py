from __future__ import annotations

import io
import os
import random
from pathlib import Path

import blake3
import pytest

from bulwark.agent.format.chunker import Piece, chunk_bytes, chunk_file, chunk_stream
from bulwark.agent.format.constants import CHUNK_MAX, CHUNK_MIN


def _data(n: int, seed: int = 7) -> bytes:
    return random.Random(seed).randbytes(n)


def test_empty_file_yields_nothing(tmp_path: Path):
    p = tmp_path / "empty"
    p.write_bytes(b"")
    assert list(chunk_file(p)) == []
    assert list(chunk_bytes(b"")) == []


def test_small_input_is_one_piece(tmp_path: Path):
    p = tmp_path / "small"
    p.write_bytes(b"hello")
    assert [(c.offset, bytes(c.data)) for c in chunk_file(p)] == [(0, b"hello")]


def test_pieces_cover_input_within_bounds():
    data = _data(12 << 20)
    pieces = list(chunk_bytes(data))
    assert b"".join(bytes(p.data) for p in pieces) == data
    offset = 0
    for i, p in enumerate(pieces):
        assert p.offset == offset
        assert len(p.data) <= CHUNK_MAX
        if i < len(pieces) - 1:
            assert len(p.data) >= CHUNK_MIN
        offset += len(p.data)


def test_file_stream_and_buffer_agree(tmp_path: Path):
    data = _data(10 << 20, seed=3)
    p = tmp_path / "f"
    p.write_bytes(data)
    from_file = [(c.offset, bytes(c.data)) for c in chunk_file(p)]  # views: copy to keep
    assert from_file == [(c.offset, bytes(c.data)) for c in chunk_bytes(data)]
    assert from_file == [(c.offset, c.data) for c in chunk_stream(io.BytesIO(data))]


@pytest.mark.parametrize("size", [(4 << 20) + 1, (16 << 20) - 3, (16 << 20) + 7, 37 << 20])
def test_file_buffer_refills_keep_the_cuts(tmp_path: Path, size: int):
    """chunk_file refills its reused buffer mid-file; the cuts must not notice."""
    data = _data(size, seed=size)
    p = tmp_path / "f"
    p.write_bytes(data)
    from_file = [(c.offset, bytes(c.data)) for c in chunk_file(p)]
    assert from_file == [(c.offset, bytes(c.data)) for c in chunk_bytes(data)]


def test_file_truncated_while_read_gives_a_short_read(tmp_path: Path):
    p = tmp_path / "f"
    p.write_bytes(_data(24 << 20, seed=9))
    pieces = chunk_file(p)
    first = next(pieces)
    os.truncate(p, 10 << 20)  # a training job rewriting its checkpoint: no SIGBUS
    total = len(first.data) + sum(len(c.data) for c in pieces)
    assert total <= 24 << 20


def test_insertion_shifts_few_boundaries():
    data = _data(16 << 20, seed=5)
    edited = data[: 5 << 20] + b"inserted!" + data[5 << 20 :]
    before = {bytes(p.data) for p in chunk_bytes(data)}
    after = [bytes(p.data) for p in chunk_bytes(edited)]
    assert sum(d not in before for d in after) <= 2


def test_boundaries_are_frozen():
    """Chunk boundaries are part of the format: dedup against existing vaults depends on them."""
    data = blake3.blake3(b"bulwark chunker known answer").digest(length=12 << 20)
    assert [p.offset for p in chunk_bytes(data)] == [
        0, 1332540, 3127773, 5448585, 6544244, 7352376, 8520414, 8987897, 10357925, 11575510,
        11855954,
    ]


def test_piece_is_frozen():
    p = Piece(0, b"x")
    with pytest.raises(AttributeError):
        p.offset = 1  # type: ignore[misc]


def test_open_failure_is_oserror(tmp_path: Path):
    with pytest.raises(FileNotFoundError):
        list(chunk_file(tmp_path / "missing"))

