"""agent.read_ahead, and small files read ahead by a backup run: the same bytes, hashes and
skips as reading them on the spot."""

from __future__ import annotations

import io

import blake3
import pytest

from agent import backup
from agent.cache import FileCache
from agent.hash_lanes import HashLanes
from agent.manifest import decode_manifest
from agent.read_ahead import ReadAhead, read_small
from agent.scanner import scan

ID_KEY = bytes(range(32))
LIMIT = 64 << 10


@pytest.fixture
def files(tmp_path):
    paths = []
    for i in range(100):
        p = tmp_path / f"f{i:03d}"
        p.write_bytes(bytes([i]) * (i * 37))  # f000 is empty
        paths.append(str(p))
    return paths


@pytest.fixture
def reader():
    reader = ReadAhead(LIMIT, threads=2, batch=8, ahead=2)
    yield reader
    reader.close()


def test_files_come_back_in_plan_order_with_their_hashes(reader, files):
    reader.plan(files[:60])
    reader.plan(files[60:])
    for i, path in enumerate(files):
        got = reader.take(path)
        assert (got.path, got.data, got.error) == (path, bytes([i]) * (i * 37), None)
        assert got.content_hash == blake3.blake3(got.data).digest()


def test_read_small_reads_one_byte_past_the_limit_to_see_a_grown_file(tmp_path):
    p = tmp_path / "grew"
    p.write_bytes(b"x" * (LIMIT + 500))
    assert len(read_small(str(p), LIMIT).data) == LIMIT + 1


def test_a_file_gone_since_the_scan_comes_back_as_its_error(reader, files, tmp_path):
    gone = str(tmp_path / "gone")
    reader.plan([files[0], gone, files[1]])
    assert reader.take(files[0]).error is None
    err = reader.take(gone).error
    assert isinstance(err, FileNotFoundError) and err.filename == gone
    assert reader.take(files[1]).data == bytes([1]) * 37


def test_taking_out_of_plan_order_is_refused(reader, files):
    with pytest.raises(ValueError, match="not planned"):
        reader.take(files[0])
    reader.plan(files[:2])
    with pytest.raises(ValueError, match="f000 was planned next"):
        reader.take(files[1])


def test_at_most_ahead_batches_are_read_before_they_are_taken(reader, files):
    reader.plan(files)
    assert len(reader._reading) == 2 and len(reader._planned) == 100 - 2 * 8
    for path in files[:8]:  # the first batch
        reader.take(path)
    assert len(reader._reading) == 2 and len(reader._planned) == 100 - 3 * 8
    reader.close()
    assert not reader._planned and not reader._reading


class _Uploader:
    def __init__(self) -> None:
        self.chunks: list[bytes] = []

    def add(self, chunk_id, key, data, hint=None) -> None:
        self.chunks.append(bytes(data))


class _Keys:
    id_key = ID_KEY


def test_a_run_packs_read_ahead_files_and_skips_the_ones_gone(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        (src / f"s{i:02d}").write_bytes(bytes([i]) * (100 + i))
    (src / "grows").write_bytes(b"g" * 10)
    items = list(scan([str(src)]))
    (src / "s07").unlink()  # gone between the scan and the read
    (src / "grows").write_bytes(b"g" * (backup.PACK_FILE_MAX + 10))  # no longer small

    uploader, lanes, reader = _Uploader(), HashLanes(ID_KEY, 2), ReadAhead(LIMIT, 2, 4, 2)
    cache = FileCache(tmp_path / "cache")
    spool = io.BytesIO()
    try:
        run = backup._Run(_Keys(), uploader, lanes, reader, cache, spool, None, None)  # type: ignore
        reader.plan(i.abs for i in items if backup._is_packed(i))
        for item in items:
            run.add(item, None)
        root = run.finish_manifest()
    finally:
        reader.close()
        lanes.close()
        cache.close()
    assert run.skipped == [(str(src / "s07"), "cannot read: No such file or directory")]
    manifest = uploader.chunks[-len(root.chunks):]
    prefix = src.relative_to("/").as_posix() + "/"
    entries = {e.path.removeprefix(prefix): e for e in decode_manifest(manifest)
               if e.path.startswith(prefix)}
    assert sorted(entries) == sorted([f"s{i:02d}" for i in range(30) if i != 7] + ["grows"])
    assert entries["grows"].size == backup.PACK_FILE_MAX + 10  # read as a normal file
    for i in (0, 8, 29):
        assert entries[f"s{i:02d}"].content_hash == blake3.blake3(bytes([i]) * (100 + i)).digest()
