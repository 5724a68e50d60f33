"""The SQLite catalog: which chunks the vault holds, and which snapshots reference them.

Tables (schema version 1)::

    chunks(id BLOB PK, size, digest BLOB, stored_ns)          one row per durable blob
    snapshots(id TEXT PK, time_ns, node, header, signature,   header/signature verbatim
              tags JSON, paths JSON, files, bytes, chunk_count)
    snapshot_chunks(snapshot_id, chunk_id) WITHOUT ROWID      what each snapshot references

Invariants: a ``chunks`` row is written only after its blob is durable in the store, so a
row always has a blob. A snapshot and all its ``snapshot_chunks`` rows are committed in one
transaction, and only if every referenced chunk has a row.

Durability: WAL journal with ``synchronous=FULL``. Concurrency: one connection shared by
all gRPC worker threads behind a lock; every public method is one short transaction.
"""

from __future__ import annotations

import errno
import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import blake3

from vault.clock import Clock, SystemClock
from vault.errors import InvalidRequest, MissingChunks, NotFound, StorageError, short_id

SCHEMA_VERSION = 1
BATCH = 500  # ids per IN (...) query; below SQLite's default variable limit
SNAPSHOT_ID_CONTEXT = b"bulwark-snapshot-id-v1"
_HEX = frozenset("0123456789abcdef")

_SCHEMA = """
CREATE TABLE schema_version (version INTEGER NOT NULL);
CREATE TABLE chunks (
    id BLOB PRIMARY KEY,
    size INTEGER NOT NULL,
    digest BLOB NOT NULL,
    stored_ns INTEGER NOT NULL
);
CREATE TABLE snapshots (
    id TEXT PRIMARY KEY,
    time_ns INTEGER NOT NULL,
    node TEXT NOT NULL,
    header BLOB NOT NULL,
    signature BLOB NOT NULL,
    tags TEXT NOT NULL,
    paths TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL
);
CREATE INDEX snapshots_by_node_time ON snapshots (node, time_ns);
CREATE INDEX snapshots_by_time ON snapshots (time_ns);
CREATE TABLE snapshot_chunks (
    snapshot_id TEXT NOT NULL REFERENCES snapshots (id),
    chunk_id BLOB NOT NULL REFERENCES chunks (id),
    PRIMARY KEY (snapshot_id, chunk_id)
) WITHOUT ROWID;
CREATE INDEX snapshot_chunks_by_chunk ON snapshot_chunks (chunk_id);
"""


@dataclass(frozen=True)
class SnapshotRecord:
    """A committed snapshot as the vault keeps it. ``header``/``signature`` are verbatim."""

    id: str
    time_ns: int
    node: str
    header: bytes
    signature: bytes
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    files: int
    bytes: int
    chunk_count: int


def snapshot_id(header: bytes, signature: bytes, time_ns: int) -> str:
    """The id the vault assigns: BLAKE3 over context, header, signature, ingest time (u64 LE)."""
    h = blake3.blake3(SNAPSHOT_ID_CONTEXT + header + signature + time_ns.to_bytes(8, "little"))
    return h.hexdigest()


def _batches(items: Sequence[bytes]) -> Iterator[Sequence[bytes]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def _record(row: sqlite3.Row) -> SnapshotRecord:
    return SnapshotRecord(
        id=row["id"],
        time_ns=row["time_ns"],
        node=row["node"],
        header=bytes(row["header"]),
        signature=bytes(row["signature"]),
        tags=tuple(json.loads(row["tags"])),
        paths=tuple(json.loads(row["paths"])),
        files=row["files"],
        bytes=row["bytes"],
        chunk_count=row["chunk_count"],
    )


class Catalog:
    """The catalog database at ``path`` (created with the current schema if new).

    ``clock`` stamps ``chunks.stored_ns``; snapshot times come in the record.
    """

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StorageError(f"open catalog {self.path}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        with self._locked():
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._migrate()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """Serialize access; turn SQLite failures into ``StorageError`` (ENOSPC if full)."""
        with self._lock:
            try:
                yield self._db
            except sqlite3.Error as exc:
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                full = isinstance(exc, sqlite3.OperationalError) and "full" in str(exc)
                raise StorageError(
                    f"catalog {self.path}: {exc}", errno.ENOSPC if full else errno.EIO
                ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` … ``COMMIT``; rolls back on any exception."""
        with self._locked() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def _migrate(self) -> None:
        exists = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='schema_version'"
        ).fetchone()
        if not exists:
            self._db.execute("BEGIN IMMEDIATE")
            for stmt in _SCHEMA.split(";"):
                if stmt.strip():
                    self._db.execute(stmt)
            self._db.execute("INSERT INTO schema_version VALUES (?)", (SCHEMA_VERSION,))
            self._db.execute("COMMIT")
            return
        (version,) = self._db.execute("SELECT version FROM schema_version").fetchone()
        if version != SCHEMA_VERSION:
            raise StorageError(
                f"catalog {self.path}: schema version {version}, this vaultd reads {SCHEMA_VERSION}"
            )

    # -- chunks ---------------------------------------------------------------------------

    def record_chunks(self, chunks: Iterable[tuple[bytes, int, bytes]]) -> None:
        """Record ``(id, size, digest)`` rows in one transaction; existing rows are kept.

        Call only after the blobs are durable in the store.
        """
        stored_ns = self._clock.now_ns()
        rows = [(cid, size, digest, stored_ns) for cid, size, digest in chunks]
        with self._transaction() as db:
            db.executemany("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?)", rows)

    def missing_chunks(self, chunk_ids: Sequence[bytes]) -> list[bytes]:
        """The ids of ``chunk_ids`` without a row, in input order (duplicates kept)."""
        present: set[bytes] = set()
        with self._locked() as db:
            for batch in _batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                rows = db.execute(f"SELECT id FROM chunks WHERE id IN ({marks})", batch)
                present.update(bytes(r[0]) for r in rows)
        return [c for c in chunk_ids if c not in present]

    def chunk_digest(self, chunk_id: bytes) -> bytes:
        """The digest recorded when the chunk was stored. ``NotFound`` if no row."""
        with self._locked() as db:
            row = db.execute("SELECT digest FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        if row is None:
            raise NotFound(f"chunk {short_id(chunk_id)}: not held by the vault")
        return bytes(row[0])

    def snapshots_referencing(self, chunk_id: bytes) -> list[str]:
        """Ids of snapshots that reference ``chunk_id``, oldest first."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT s.id FROM snapshot_chunks sc JOIN snapshots s ON s.id = sc.snapshot_id"
                " WHERE sc.chunk_id = ? ORDER BY s.time_ns, s.id",
                (chunk_id,),
            ).fetchall()
        return [r[0] for r in rows]

    def chunks_of_node(self, node: str, chunk_ids: Sequence[bytes]) -> set[bytes]:
        """The ids of ``chunk_ids`` referenced by at least one snapshot of ``node``
        (node isolation on GetChunks; batched, one indexed lookup per id)."""
        found: set[bytes] = set()
        with self._locked() as db:
            for batch in _batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                rows = db.execute(
                    "SELECT DISTINCT sc.chunk_id FROM snapshot_chunks sc"
                    " JOIN snapshots s ON s.id = sc.snapshot_id"
                    f" WHERE s.node = ? AND sc.chunk_id IN ({marks})",
                    (node, *batch),
                )
                found.update(bytes(r[0]) for r in rows)
        return found

    # -- snapshots ------------------------------------------------------------------------

    def commit_snapshot(self, record: SnapshotRecord, chunk_ids: Iterable[bytes]) -> SnapshotRecord:
        """Insert the snapshot and its references, all or nothing, in one transaction.

        Raises ``MissingChunks`` (and inserts nothing) if any id lacks a ``chunks`` row.
        """
        ids = [(c,) for c in set(chunk_ids)]
        with self._transaction() as db:
            db.execute(
                "CREATE TEMP TABLE IF NOT EXISTS commit_ids (id BLOB PRIMARY KEY) WITHOUT ROWID"
            )
            db.execute("DELETE FROM temp.commit_ids")
            db.executemany("INSERT INTO temp.commit_ids VALUES (?)", ids)
            missing = db.execute(
                "SELECT c.id FROM temp.commit_ids c LEFT JOIN chunks k ON k.id = c.id"
                " WHERE k.id IS NULL"
            ).fetchall()
            if missing:
                raise MissingChunks([bytes(r[0]) for r in missing])
            db.execute(
                "INSERT INTO snapshots VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.id,
                    record.time_ns,
                    record.node,
                    record.header,
                    record.signature,
                    json.dumps(list(record.tags)),
                    json.dumps(list(record.paths)),
                    record.files,
                    record.bytes,
                    record.chunk_count,
                ),
            )
            db.execute(
                "INSERT INTO snapshot_chunks SELECT ?, id FROM temp.commit_ids", (record.id,)
            )
            db.execute("DELETE FROM temp.commit_ids")
        return record

    def list_snapshots(self, node: str | None = None) -> list[SnapshotRecord]:
        """Every snapshot (of ``node`` if given), oldest first."""
        where, args = ("WHERE node = ?", (node,)) if node else ("", ())
        with self._locked() as db:
            rows = db.execute(f"SELECT * FROM snapshots {where} ORDER BY time_ns, id", args)
            return [_record(r) for r in rows]

    def resolve(self, ref: str, node: str | None = None) -> SnapshotRecord:
        """Find one snapshot by full id, unique id prefix, or ``"latest"``.

        ``node`` narrows the search (for ``latest``: the newest of that node). A prefix that
        matches several snapshots raises ``InvalidRequest`` saying how many; no match raises
        ``NotFound``. A ref that is neither ``latest`` nor lowercase hex is ``InvalidRequest``.
        """
        scope = " AND node = ?" if node else ""
        extra: tuple[str, ...] = (node,) if node else ()
        if ref == "latest":
            sql = f"SELECT * FROM snapshots WHERE 1{scope} ORDER BY time_ns DESC, id DESC LIMIT 1"
            args: tuple[str, ...] = extra
        elif ref and len(ref) <= 64 and set(ref) <= _HEX:
            sql = f"SELECT * FROM snapshots WHERE id GLOB ?{scope} ORDER BY id LIMIT 2"
            args = (ref + "*", *extra)
        else:
            raise InvalidRequest(
                f"snapshot reference {ref!r}: expected a full id, an id prefix "
                "(lowercase hex) or 'latest'"
            )
        with self._locked() as db:
            rows = db.execute(sql, args).fetchall()
            if len(rows) > 1:
                (count,) = db.execute(
                    f"SELECT count(*) FROM snapshots WHERE id GLOB ?{scope}", args
                ).fetchone()
        where = f" of node {node!r}" if node else ""
        if not rows:
            raise NotFound(f"snapshot {ref!r}: no snapshot{where} matches")
        if len(rows) > 1:
            raise InvalidRequest(
                f"snapshot prefix {ref!r} is ambiguous: {count} snapshots{where} match"
            )
        return _record(rows[0])
