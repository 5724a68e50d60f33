"""agent.backup.seal_lanes: the lanes give exactly what sealing on the reading thread gives."""

from __future__ import annotations

import os
import threading
import time

import blake3
import pytest

from bulwark.agent.backup.seal_lanes import SealLanes
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.chunker import Piece, chunk_bytes, chunk_file
from bulwark.agent.format.codec import TensorHint

ID_KEY = bytes(range(32))


def _expected(data: bytes, hint_of=None) -> list[tuple[int, object]]:
    return [(p.offset, seal_chunk(ID_KEY, p.data,
                                  hint_of(p.offset, len(p.data)) if hint_of else None))
            for p in chunk_bytes(data)]


@pytest.fixture
def lanes():
    lanes = SealLanes(ID_KEY, workers=2, depth=3)
    yield lanes
    lanes.close()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[str, bytes]:
    data = os.urandom((13 << 20) + 17)  # several chunks, a short last one
    path = tmp_path_factory.mktemp("lanes") / "big.bin"
    path.write_bytes(data)
    return str(path), data


def test_sealed_pieces_and_content_hash_match_the_reading_thread(lanes, big_file):
    path, data = big_file
    sealing = lanes.seal_file(chunk_file(path))
    assert [(p.offset, p.sealed) for p in sealing] == _expected(data)
    assert sealing.content_hash == blake3.blake3(data).digest()


def test_hints_reach_the_codec(lanes):
    data = bytes(range(256)) * 8192  # 2 MiB that byte-grouping changes
    hint_of = lambda offset, size: TensorHint(width=2, phase=offset % 2)  # noqa: E731
    got = [(p.offset, p.sealed) for p in lanes.seal_file(chunk_bytes(data), hint_of)]
    assert got == _expected(data, hint_of)
    assert got != _expected(data)  # the hint changed the blobs, so it was used


def test_sealing_runs_on_the_lanes(lanes, big_file):
    path, _ = big_file
    threads: set[str] = set()

    def pieces():
        yield from chunk_file(path)
        threads.update(t.name.rsplit("_", 1)[0] for t in threading.enumerate())

    assert len(list(lanes.seal_file(pieces()))) > 3
    assert {"seal", "content-hash"} <= threads


def test_content_hash_is_unknown_until_every_piece_was_read(lanes):
    sealing = lanes.seal_file(iter([Piece(0, b"abc")]))
    with pytest.raises(RuntimeError, match="once every piece"):
        _ = sealing.content_hash
    assert [p.sealed.size for p in sealing] == [3]
    assert sealing.content_hash == blake3.blake3(b"abc").digest()


def test_a_read_error_propagates_and_leaves_no_work_behind(lanes):
    def failing():
        for i in range(6):
            yield Piece(i << 20, os.urandom(1 << 20))
        raise OSError(5, "Input/output error")

    with pytest.raises(OSError, match="Input/output"):
        for _ in lanes.seal_file(failing()):
            pass
    again = lanes.seal_file(iter([Piece(0, b"x" * 100)]))
    assert [p.sealed for p in again] == [seal_chunk(ID_KEY, b"x" * 100)]


def test_stopping_early_leaves_no_update_running_or_queued(lanes, monkeypatch):
    closed = threading.Event()
    late: list[int] = []

    class SlowRecordingHasher:
        """Slow enough that updates are still queued when the iteration is closed."""

        def update(self, data: bytes) -> None:
            time.sleep(0.01)
            if closed.is_set():
                late.append(len(data))

        def digest(self) -> bytes:
            return b""

    def slow_seal(id_key, data, hint=None, **kw):  # the reader runs ahead until depth is full
        time.sleep(0.02)
        return seal_chunk(id_key, data, hint, **kw)

    monkeypatch.setattr("bulwark.agent.backup.seal_lanes.seal_chunk", slow_seal)
    pieces = (Piece(i, bytes([i]) * 1000) for i in range(10))
    sealing = lanes.seal_file(pieces)
    sealing._hasher = SlowRecordingHasher()
    iterator = iter(sealing)
    assert next(iterator).offset == 0  # three more pieces are in flight now (depth 3)
    iterator.close()  # as a cancelled backup does
    closed.set()
    lanes._content.submit(lambda: None).result()  # whatever was still queued has run
    assert late == []
