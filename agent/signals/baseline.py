"""The node's memory of its previous snapshot, for the ransomware signals (issue 18).

A node is write-only: it cannot decrypt its own earlier manifests. So what the comparison
needs is kept here, in ``signals.sqlite`` in the node's cache folder (next to the file
cache, agent.backup.cache): per file of the last successful backup of the same set of
paths (the *scope*), its path, content hash and :class:`FileRecord` numbers. It holds no
chunk keys and no content, only what the signals compare.

A backup stages a row per file as it goes (:meth:`Baseline.stage`, written in batches:
memory does not grow with the number of files); a file taken unchanged from the file
cache is staged without numbers and inherits its previous row's. :meth:`Baseline.totals`
answers the snapshot-level questions in SQL: files changed, deleted, renamed (the same
content under a new path), new, and previous files whose path reappears with an extension
appended or replaced (``a.bin`` gone, ``a.bin.locked`` or ``a.locked`` new). Only after the
commit succeeded does :meth:`Baseline.swap` make the staged rows the scope's baseline; a
failed run leaves the previous one (:meth:`Baseline.discard`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bulwark.agent.signals.file_stats import FileRecord
from bulwark.agent.signals.names import stem

FILE_NAME = "signals.sqlite"
BATCH = 1000
_COLUMNS = "size, format, ok, stored, high, zero, exp_e, exp_m"

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS files (
    scope BLOB NOT NULL, path BLOB NOT NULL, hash BLOB NOT NULL, stem BLOB NOT NULL,
    {_COLUMNS.replace(',', ' INTEGER,').replace('format INTEGER', 'format TEXT')} INTEGER,
    PRIMARY KEY (scope, path)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS files_by_hash ON files (scope, hash);
DROP TABLE IF EXISTS staged;
CREATE TABLE staged (
    path BLOB NOT NULL, hash BLOB NOT NULL, stem BLOB NOT NULL, known INTEGER NOT NULL,
    {_COLUMNS.replace(',', ' INTEGER,').replace('format INTEGER', 'format TEXT')} INTEGER
);
"""
# Built once over every staged row when the comparison starts (a bulk build is several
# times cheaper than keeping three indexes up to date through 1,000-row batches).
_STAGED_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS staged_by_path ON staged (path);
CREATE INDEX IF NOT EXISTS staged_by_stem ON staged (stem);
CREATE INDEX IF NOT EXISTS staged_by_hash ON staged (hash);
"""


@dataclass(frozen=True)
class Totals:
    """Snapshot-level counts against the previous snapshot of the scope."""

    has_baseline: bool
    files: int
    bytes: int
    previous_files: int
    changed: int
    deleted: int
    renamed: int
    new: int
    renamed_ext: int


class Baseline:
    """The baseline of the scope ``paths`` (absolute) in ``cache_dir``."""

    def __init__(self, cache_dir: Path, paths: Sequence[str]) -> None:
        self.scope = b"\0".join(sorted(p.encode("utf-8", "surrogateescape") for p in paths))
        self._db = sqlite3.connect(Path(cache_dir) / FILE_NAME, isolation_level=None,
                                   check_same_thread=False)
        # The baseline can be rebuilt by the next backup (it only loses one comparison), so
        # it is not fsynced per write: WAL with synchronous=NORMAL, batches in transactions.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._rows: list[tuple] = []
        # rows of the previous snapshot fetched ahead for a window of files (prefetch)
        self._ahead: dict[bytes, tuple] = {}
        (self._previous,) = self._db.execute(
            "SELECT count(*) FROM files WHERE scope = ?", (self.scope,)).fetchone()

    @property
    def has_previous(self) -> bool:
        return self._previous > 0

    def previous(self, path: bytes, content_hash: bytes | None = None) -> FileRecord | None:
        """The previous snapshot's numbers of ``path`` (None: no such file then; with
        ``content_hash``, also None if its content was another)."""
        if not self._previous:
            return None
        row = self._ahead.pop(path, None)
        if row is None:
            row = self._db.execute(
                f"SELECT hash, {_COLUMNS} FROM files WHERE scope = ? AND path = ?",
                (self.scope, path)).fetchone()
        if row is None or (content_hash is not None and bytes(row[0]) != content_hash):
            return None
        return _record(row[1:])

    def prefetch(self, paths: Sequence[bytes]) -> None:
        """Fetch the previous rows of ``paths`` (a window of files about to be done) in a few
        queries instead of one each: :meth:`previous` takes them from memory. Memory is
        bounded by the window; rows not asked for are dropped at the next prefetch."""
        self._ahead = {}
        if not self._previous:
            return
        for i in range(0, len(paths), BATCH // 2):
            batch = list(paths[i:i + BATCH // 2])
            marks = ",".join("?" * len(batch))
            for row in self._db.execute(
                    f"SELECT path, hash, {_COLUMNS} FROM files WHERE scope = ?"
                    f" AND path IN ({marks})", (self.scope, *batch)):
                self._ahead[bytes(row[0])] = row[1:]

    def has_content(self, content_hash: bytes) -> bool:
        """Whether a file of the previous snapshot had this content (a move, a copy)."""
        if not self._previous:
            return False
        return self._db.execute("SELECT 1 FROM files WHERE scope = ? AND hash = ? LIMIT 1",
                                (self.scope, content_hash)).fetchone() is not None

    def stage(self, path: bytes, content_hash: bytes, record: FileRecord | None,
              size: int) -> None:
        """Note one file of this backup; ``record`` None: unchanged, its numbers carry over."""
        r = record or FileRecord(size)
        self._rows.append((path, content_hash, stem(path), int(record is not None), r.size,
                           r.format, int(r.format_ok), r.stored_ppm, r.high_ppm, r.zero_ppm,
                           r.exp_entropy_mbit, r.exp_mean_milli))
        if len(self._rows) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            with self._db:  # one transaction per batch
                self._db.execute("BEGIN")
                self._db.executemany(
                    f"INSERT INTO staged VALUES ({','.join('?' * 12)})", self._rows)
            self._rows = []

    def totals(self) -> Totals:
        """The snapshot-level counts (see the module doc)."""
        self._flush()
        self._db.executescript(_STAGED_INDEXES)
        db, scope = self._db, self.scope
        files, size = db.execute("SELECT count(*), COALESCE(sum(size), 0) FROM staged").fetchone()
        if not self._previous:
            return Totals(False, files, size, 0, 0, 0, 0, files, 0)
        one = lambda sql: db.execute(sql, {"s": scope}).fetchone()[0]  # noqa: E731
        changed = one("SELECT count(*) FROM staged n JOIN files p ON p.scope = :s"
                      " AND p.path = n.path WHERE p.hash != n.hash")
        new_rows = ("SELECT * FROM staged n WHERE NOT EXISTS (SELECT 1 FROM files p"
                    " WHERE p.scope = :s AND p.path = n.path)")
        gone_rows = ("SELECT * FROM files p WHERE p.scope = :s AND NOT EXISTS"
                     " (SELECT 1 FROM staged n WHERE n.path = p.path)")
        renamed = one(f"SELECT count(*) FROM ({new_rows}) n WHERE EXISTS ({gone_rows}"
                      " AND p.hash = n.hash)")
        new = one(f"SELECT count(*) FROM ({new_rows})") - renamed
        deleted = one(f"SELECT count(*) FROM ({gone_rows}) p WHERE NOT EXISTS"
                      f" ({new_rows} AND n.hash = p.hash)")
        renamed_ext = one(f"SELECT count(*) FROM ({gone_rows}) p WHERE EXISTS ({new_rows}"
                          " AND n.stem IN (p.path, p.stem))")
        return Totals(True, files, size, self._previous, changed, deleted, renamed, new,
                      renamed_ext)

    def swap(self) -> None:
        """Make the staged rows the scope's baseline (after a successful commit); unchanged
        files take their previous numbers. A run that staged exactly the baseline's rows (an
        unchanged tree) leaves the baseline as it is: rewriting 20,000 identical rows cost
        0.11 CPU-s, the check 0.02 (issue 20)."""
        self._flush()
        db = self._db
        db.executescript(_STAGED_INDEXES)
        db.execute("BEGIN IMMEDIATE")
        try:
            if self._same_as_previous():
                db.execute("DELETE FROM staged")
                db.execute("COMMIT")
                return
            db.execute(
                f"UPDATE staged SET ({_COLUMNS}) = (SELECT {_COLUMNS} FROM files p"
                " WHERE p.scope = ? AND p.path = staged.path AND p.hash = staged.hash)"
                " WHERE known = 0 AND EXISTS (SELECT 1 FROM files p WHERE p.scope = ?"
                " AND p.path = staged.path AND p.hash = staged.hash)", (self.scope, self.scope))
            db.execute("DELETE FROM files WHERE scope = ?", (self.scope,))
            db.execute(f"INSERT INTO files SELECT ?, path, hash, stem, {_COLUMNS} FROM staged",
                       (self.scope,))
            db.execute("DELETE FROM staged")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _same_as_previous(self) -> bool:
        """Whether the staged rows are the scope's rows, column for column: as many, and
        each staged row (paths are unique: staged_by_path) has its equal among them."""
        (staged,) = self._db.execute("SELECT count(*) FROM staged").fetchone()
        (held,) = self._db.execute(
            "SELECT count(*) FROM files WHERE scope = ?", (self.scope,)).fetchone()
        if staged != held:
            return False
        same = " AND ".join(f"p.{c} IS n.{c}" for c in ("hash", "stem", *_COLUMNS.split(", ")))
        differ = self._db.execute(
            "SELECT 1 FROM staged n WHERE n.known = 0 OR NOT EXISTS (SELECT 1 FROM files p"
            f" WHERE p.scope = ? AND p.path = n.path AND {same}) LIMIT 1",
            (self.scope,)).fetchone()
        return differ is None

    def discard(self) -> None:
        self._rows = []
        self._db.execute("DELETE FROM staged")
        self._db.executescript("DROP INDEX IF EXISTS staged_by_path;"
                               "DROP INDEX IF EXISTS staged_by_stem;"
                               "DROP INDEX IF EXISTS staged_by_hash;")

    def close(self) -> None:
        self._db.close()


def _record(row: tuple) -> FileRecord:
    size, fmt, ok, stored, high, zero, exp_e, exp_m = row
    return FileRecord(size, fmt, bool(ok), stored, high, zero, exp_e, exp_m)

