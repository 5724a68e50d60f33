"""agent.backup.hash_lanes: the lanes give exactly what hashing on the reading thread gives."""

from __future__ import annotations

import os
import threading
import time

import blake3
import pytest

from bulwark.agent.backup.hash_lanes import PARALLEL_MIN, HashLanes
from bulwark.agent.format.chunker import Piece, chunk_bytes, chunk_file
from bulwark.agent.format.crypto import chunk_id_and_key

ID_KEY = bytes(range(32))


def _expected(data: bytes) -> list[tuple[int, bytes, bytes, bytes]]:
    return [(p.offset, bytes(p.data), *chunk_id_and_key(ID_KEY, p.data))
            for p in chunk_bytes(data)]


@pytest.fixture
def lanes():
    lanes = HashLanes(ID_KEY, workers=2, depth=3)
    yield lanes
    lanes.close()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory) -> tuple[str, bytes]:
    data = os.urandom(PARALLEL_MIN + (5 << 20) + 17)  # several chunks, a short last one
    path = tmp_path_factory.mktemp("lanes") / "big.bin"
    path.write_bytes(data)
    return str(path), data


@pytest.mark.parametrize("on_lanes", [True, False])
def test_pieces_ids_and_content_hash_match_the_reading_thread(lanes, big_file, on_lanes):
    path, data = big_file
    size = len(data) if on_lanes else PARALLEL_MIN - 1  # the size decides the path taken
    hashing = lanes.hash_file(chunk_file(path), size)
    got = [(p.offset, p.data, p.chunk_id, p.key) for p in hashing]
    assert got == _expected(data)
    assert all(type(p[1]) is bytes for p in got)  # owned copies, not views of the buffer
    assert hashing.content_hash == blake3.blake3(data).digest()


def test_hashing_runs_on_the_lanes_for_large_files(lanes, big_file):
    path, data = big_file
    threads: set[str] = set()

    def pieces():
        yield from chunk_file(path)
        # by now every piece was submitted; record who hashes
        threads.update(t.name.rsplit("_", 1)[0] for t in threading.enumerate())

    assert len(list(lanes.hash_file(pieces(), len(data)))) > 3
    assert {"chunk-id", "content-hash"} <= threads


def test_content_hash_is_unknown_until_every_piece_was_read(lanes):
    hashing = lanes.hash_file(iter([Piece(0, b"abc")]), 3)
    with pytest.raises(RuntimeError, match="once every piece"):
        _ = hashing.content_hash
    assert [p.data for p in hashing] == [b"abc"]
    assert hashing.content_hash == blake3.blake3(b"abc").digest()


def test_a_read_error_propagates_and_leaves_no_work_behind(lanes):
    def failing():
        for i in range(6):
            yield Piece(i << 20, os.urandom(1 << 20))
        raise OSError(5, "Input/output error")

    hashing = lanes.hash_file(failing(), PARALLEL_MIN)
    with pytest.raises(OSError, match="Input/output"):
        for _ in hashing:
            pass
    # the lanes are idle and still usable
    again = lanes.hash_file(iter([Piece(0, b"x" * 100)]), PARALLEL_MIN)
    assert [p.chunk_id for p in again] == [chunk_id_and_key(ID_KEY, b"x" * 100)[0]]


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

    def slow_ids(id_key, data):  # so the reader runs ahead until depth pieces are in flight
        time.sleep(0.02)
        return chunk_id_and_key(id_key, data)

    monkeypatch.setattr("bulwark.agent.backup.hash_lanes.chunk_id_and_key", slow_ids)
    pieces = (Piece(i, bytes([i]) * 1000) for i in range(10))
    hashing = lanes.hash_file(pieces, PARALLEL_MIN)
    hashing._hasher = SlowRecordingHasher()
    iterator = iter(hashing)
    assert next(iterator).offset == 0  # three more pieces are in flight now (depth 3)
    iterator.close()  # as a cancelled backup does
    closed.set()
    lanes._content.submit(lambda: None).result()  # whatever was still queued has run
    assert late == []
