"""agent.backup.cache: staged rows replace the cache only on swap; a failed run changes nothing."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bulwark.agent.backup import cache as cache_mod
from bulwark.agent.backup.cache import CachedFile, CacheKey, FileCache
from bulwark.agent.format.manifest import ChunkRef


def _file(n: int) -> tuple[CacheKey, CachedFile]:
    ref = ChunkRef(n.to_bytes(32, "big"), b"k" * 32, 100 + n)
    return CacheKey(f"f{n}", 10 + n, n, n, n), CachedFile(bytes([n % 256]) * 32, (ref,), 0, None)


def _tables(directory: Path) -> set[str]:
    with sqlite3.connect(directory / "files.sqlite") as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_staged_rows_are_invisible_until_swapped(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cache_mod, "STAGE_BATCH", 3)  # several batches
    cache = FileCache(tmp_path)
    cache.replace_all([_file(0), _file(1)])
    for n in range(1, 8):
        cache.stage(*_file(n))
    assert cache.lookup(_file(0)[0]) == _file(0)[1]
    assert cache.lookup(_file(5)[0]) is None  # staged, not swapped
    cache.swap_staged()
    assert cache.lookup(_file(0)[0]) is None  # only files of the last backup
    assert all(cache.lookup(k) == f for k, f in map(_file, range(1, 8)))
    assert _tables(tmp_path) == {"files_v2"}
    cache.close()
    assert FileCache(tmp_path).lookup(_file(7)[0]) == _file(7)[1]  # durable


def test_discarded_stage_leaves_the_cache_as_it_was(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cache_mod, "STAGE_BATCH", 2)
    cache = FileCache(tmp_path)
    cache.replace_all([_file(0)])
    for n in range(1, 6):
        cache.stage(*_file(n))
    cache.discard_staged()
    assert cache.lookup(_file(0)[0]) == _file(0)[1]
    assert cache.lookup(_file(1)[0]) is None
    assert _tables(tmp_path) == {"files_v2"}


def test_replace_all_failing_midway_changes_nothing(tmp_path: Path):
    cache = FileCache(tmp_path)
    cache.replace_all([_file(0)])

    def rows():
        yield _file(1)
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        cache.replace_all(rows())
    assert cache.lookup(_file(0)[0]) == _file(0)[1] and cache.lookup(_file(1)[0]) is None


def test_stage_of_a_killed_process_is_dropped_and_a_live_one_kept(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(cache_mod, "STAGE_BATCH", 1)
    running = FileCache(tmp_path)
    running.stage(*_file(1))  # a backup in progress in this process
    with sqlite3.connect(tmp_path / "files.sqlite") as db:
        db.execute("CREATE TABLE staged_999999999_dead (path TEXT)")  # no such process
    FileCache(tmp_path).close()
    assert _tables(tmp_path) == {"files_v2", running._staged}
    running.swap_staged()
    assert running.lookup(_file(1)[0]) == _file(1)[1]
