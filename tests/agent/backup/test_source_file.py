"""agent.backup.source_file, and a backup run whose files were replaced between scan and read:
a symbolic link is not followed, a FIFO is not waited on, the file is skipped with why."""

from __future__ import annotations

import os

import pytest

from bulwark.agent.backup import run as backup
from bulwark.agent.backup.scanner import scan
from bulwark.agent.backup.source_file import open_source

SECRET = b"root-only secret " * 64


def test_a_regular_file_opens_for_reading(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"content")
    fd = open_source(str(p))
    try:
        assert os.read(fd, 100) == b"content"
    finally:
        os.close(fd)


def test_a_symbolic_link_is_refused_not_followed(tmp_path):
    (tmp_path / "secret").write_bytes(SECRET)
    (tmp_path / "link").symlink_to(tmp_path / "secret")
    with pytest.raises(OSError, match="symbolic link now") as caught:
        open_source(str(tmp_path / "link"))
    assert caught.value.filename == str(tmp_path / "link")


@pytest.mark.timeout(10, method="thread")  # without O_NONBLOCK: waits for a writer forever
def test_a_fifo_is_refused_without_waiting(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    with pytest.raises(OSError, match="a FIFO now"):
        open_source(str(tmp_path / "fifo"))


def test_a_directory_is_refused(tmp_path):
    with pytest.raises(OSError, match="a directory now"):
        open_source(str(tmp_path))


def test_a_missing_file_raises_as_open_does(tmp_path):
    with pytest.raises(FileNotFoundError):
        open_source(str(tmp_path / "missing"))


@pytest.mark.timeout(30, method="thread")  # a hung reader thread ends the run
def test_files_replaced_after_the_scan_are_skipped_and_nothing_else_is_read(tmp_path,
                                                                            backup_run):
    src = tmp_path / "src"
    src.mkdir()
    (tmp_path / "secret").write_bytes(SECRET)
    names = {"small-link": 100, "small-fifo": 100, "big-link": backup.PACK_FILE_MAX + 1,
             "big-fifo": backup.PACK_FILE_MAX + 1, "kept": 100}
    for name, size in names.items():
        (src / name).write_bytes(b"x" * size)
    items = list(scan([str(src)]))
    for name in names:
        if name.endswith("-link"):
            (src / name).unlink()
            (src / name).symlink_to(tmp_path / "secret")
        elif name.endswith("-fifo"):
            (src / name).unlink()
            os.mkfifo(src / name)

    got = backup_run(items)

    assert sorted(got.run.skipped) == sorted([
        (str(src / "small-link"), "cannot read: it is a symbolic link now (not followed)"),
        (str(src / "big-link"), "cannot read: it is a symbolic link now (not followed)"),
        (str(src / "small-fifo"), "cannot read: it is a FIFO now, not a regular file"),
        (str(src / "big-fifo"), "cannot read: it is a FIFO now, not a regular file"),
    ])
    assert not any(SECRET[:32] in chunk for chunk in got.uploader.chunks)
    assert list(got.under(src)) == ["kept"]
