"""The node's file cache: skip reading files that have not changed since last time.

A file is unchanged when its path, size, mtime, ctime and inode all match the entry
recorded by the last successful backup; its chunk refs, offset (small files share pack
chunks) and content hash are then taken from the cache and the file is not opened. The cache is rewritten after each
successful commit and holds only files present in that backup, because its chunk refs
include chunk keys (FORMAT.md, "What a write-only node holds").
"""

from __future__ import annotations

import sqlite3
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from agent.manifest import ChunkRef

_REF = struct.Struct("<32s32sI")


@dataclass(frozen=True, slots=True)
class CachedFile:
    content_hash: bytes
    chunks: tuple[ChunkRef, ...]
    offset: int = 0  # where the content starts in its chunks (a packed small file)
    length: int | None = None  # the content size if not the chunks' total (a packed file)

    @property
    def size(self) -> int:
        return sum(c.size for c in self.chunks) if self.length is None else self.length


@dataclass(frozen=True, slots=True)
class CacheKey:
    path: str
    size: int
    mtime_ns: int
    ctime_ns: int
    inode: int


def _pack(chunks: Iterable[ChunkRef]) -> bytes:
    return b"".join(_REF.pack(c.id, c.key, c.size) for c in chunks)


def _unpack(data: bytes) -> tuple[ChunkRef, ...]:
    return tuple(ChunkRef(i, k, s) for i, k, s in _REF.iter_unpack(data))


class FileCache:
    """An SQLite file in the agent's cache folder, one per (node, vault) configuration."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(directory / "files.sqlite", isolation_level=None)
        # v2 adds the offset; a v1 cache is dropped (the next backup re-reads every file once)
        self._db.execute("DROP TABLE IF EXISTS files")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS files_v2 (path TEXT PRIMARY KEY, size INTEGER,"
            " mtime_ns INTEGER, ctime_ns INTEGER, inode INTEGER, content_hash BLOB,"
            " chunks BLOB, offset INTEGER, length INTEGER)"
        )

    def close(self) -> None:
        self._db.close()

    def lookup(self, key: CacheKey) -> CachedFile | None:
        """The cached refs for ``key``, or None if anything about the file changed."""
        row = self._db.execute(
            "SELECT size, mtime_ns, ctime_ns, inode, content_hash, chunks, offset, length"
            " FROM files_v2"
            " WHERE path = ?",
            (key.path,),
        ).fetchone()
        if row is None or tuple(row[:4]) != (key.size, key.mtime_ns, key.ctime_ns, key.inode):
            return None
        return CachedFile(row[4], _unpack(row[5]), row[6], row[7])

    def replace_all(self, entries: Iterable[tuple[CacheKey, CachedFile]]) -> None:
        """Make the cache hold exactly ``entries`` (one transaction)."""
        self._db.execute("BEGIN")
        try:
            self._db.execute("DELETE FROM files_v2")
            self._db.executemany(
                "INSERT INTO files_v2 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    (k.path, k.size, k.mtime_ns, k.ctime_ns, k.inode, f.content_hash,
                     _pack(f.chunks), f.offset, f.length)
                    for k, f in entries
                ),
            )
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
