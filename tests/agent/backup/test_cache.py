"""agent.backup.cache: staged rows replace the cache only on swap; a failed run changes nothing."""

from __future__ import annotations

import os
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
    assert _tables(tmp_path) == {"files"}
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
    assert _tables(tmp_path) == {"files"}


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
    tables = _tables(tmp_path)  # the dead process's stage is gone, the running one's kept
    assert "staged_999999999_dead" not in tables and len(tables - {"files"}) == 1
    running.swap_staged()
    assert running.lookup(_file(1)[0]) == _file(1)[1]


def test_non_utf8_paths_are_kept_as_bytes(tmp_path: Path):
    cache = FileCache(tmp_path)
    key = CacheKey(os.fsdecode(b"w/bad\xffname"), 1, 2, 3, 4)
    cache.replace_all([(key, _file(1)[1])])
    assert cache.lookup(key) == _file(1)[1]
    with sqlite3.connect(tmp_path / "files.sqlite") as db:
        assert db.execute("SELECT path FROM files").fetchall() == [(b"w/bad\xffname",)]


def _at(path: str, n: int) -> tuple[CacheKey, CachedFile]:
    key, content = _file(n)
    return CacheKey(path, key.size, key.mtime_ns, key.ctime_ns, key.inode), content


def test_a_swap_replaces_only_the_rows_under_the_backed_up_paths(tmp_path: Path):
    cache = FileCache(tmp_path)
    cache.replace_all([_at("data/a", 1), _at("data/gone", 2), _at("data-x", 3), _at("big/b", 4)])
    cache.stage(*_at("big/b", 5))  # a backup of /big: /data's rows stay
    cache.swap_staged(["big"])
    assert cache.lookup(_at("data/a", 1)[0]) == _file(1)[1]
    assert cache.lookup(_at("big/b", 5)[0]) == _file(5)[1]
    assert cache.lookup(_at("big/b", 4)[0]) is None
    cache.stage(*_at("data/a", 1))  # /data again: data/gone is dropped, data-x is not below
    cache.swap_staged(["data"])
    assert cache.lookup(_at("data/gone", 2)[0]) is None
    assert cache.lookup(_at("data-x", 3)[0]) == _file(3)[1]
    assert cache.lookup(_at("data/a", 1)[0]) == _file(1)[1]
    cache.swap_staged([""])  # a backup of / that stored no files
    assert cache.lookup(_at("data-x", 3)[0]) is None


def _swapped(cache: FileCache, rows, under) -> None:
    for key, content in rows:
        cache.stage(key, content)
    cache.swap_staged(under)


@pytest.mark.parametrize("under", [["data"], None])
def test_a_swap_of_the_rows_held_keeps_them_and_any_difference_replaces(tmp_path, under):
    base = [_at("data/a", 1), _at("data/b", 2), _at("data/c", 3)]
    cache = FileCache(tmp_path)
    cache.replace_all(base)
    _swapped(cache, base, under)  # an unchanged tree
    assert all(cache.lookup(k) == f for k, f in base)
    moved = CacheKey("data/c", 13, 3, 3, 99)  # same path and content, another inode
    other_refs = CachedFile(_file(3)[1].content_hash, _file(4)[1].chunks, 0, None)
    for changed, gone in [((moved, _file(3)[1]), _at("data/c", 3)[0]),
                          ((_at("data/c", 3)[0], other_refs), None),
                          (_at("data/z", 3), _at("data/c", 3)[0])]:  # same count, new path
        _swapped(cache, [*base[:2], changed], under)
        assert cache.lookup(changed[0]) == changed[1]
        assert gone is None or cache.lookup(gone) is None
        cache.replace_all(base)
    _swapped(cache, base[:2], under)  # a file deleted
    assert cache.lookup(base[2][0]) is None
    cache.close()


def test_a_cache_of_another_generation_is_dropped_on_open(tmp_path: Path):
    with sqlite3.connect(tmp_path / "files.sqlite") as db:  # a generation-2 cache
        db.execute("CREATE TABLE files_v2 (path TEXT PRIMARY KEY, chunks BLOB)")
        db.execute("INSERT INTO files_v2 VALUES ('data/a', x'00')")
    FileCache(tmp_path).close()
    assert _tables(tmp_path) == {"files"}
    with sqlite3.connect(tmp_path / "files.sqlite") as db:
        assert db.execute("SELECT count(*) FROM files").fetchone() == (0,)
        (version,) = db.execute("PRAGMA user_version").fetchone()
    assert version >> 8 == cache_mod.CACHE_GENERATION
