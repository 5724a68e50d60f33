"""agent.backup.read_ahead, and small files read ahead by a backup run: the same bytes, hashes and
skips as reading them on the spot."""

from __future__ import annotations

import blake3
import pytest

from bulwark.agent.backup import run as backup
from bulwark.agent.backup.read_ahead import ReadAhead, read_small
from bulwark.agent.backup.scanner import scan

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
    assert reader.backlog() == (2, 100 - 2 * 8)
    for path in files[:8]:  # the first batch
        reader.take(path)
    assert reader.backlog() == (2, 100 - 3 * 8)
    reader.close()
    assert reader.backlog() == (0, 0)


def test_a_run_packs_read_ahead_files_and_skips_the_ones_gone(tmp_path, backup_run):
    src = tmp_path / "src"
    src.mkdir()
    for i in range(30):
        (src / f"s{i:02d}").write_bytes(bytes([i]) * (100 + i))
    (src / "grows").write_bytes(b"g" * 10)
    items = list(scan([str(src)]))
    (src / "s07").unlink()  # gone between the scan and the read
    (src / "grows").write_bytes(b"g" * (backup.PACK_FILE_MAX + 10))  # no longer small

    got = backup_run(items)

    assert got.run.skipped == [(str(src / "s07"), "cannot read: No such file or directory")]
    entries = got.under(src)
    assert list(entries) == sorted([f"s{i:02d}" for i in range(30) if i != 7] + ["grows"])
    assert entries["grows"].size == backup.PACK_FILE_MAX + 10  # read as a normal file
    for i in (0, 8, 29):
        assert entries[f"s{i:02d}"].content_hash == blake3.blake3(bytes([i]) * (100 + i)).digest()
