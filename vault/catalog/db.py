"""The SQLite catalog: which chunks the vault holds, and which snapshots reference them.

Tables (schema version 2; docs/vault-records.md, docs/worm.md)::

    chunks(id BLOB PK, size, digest BLOB, stored_ns)          one row per durable blob
    snapshots(id TEXT PK, time_ns, node, header, signature,   header/signature verbatim
              tags JSON, paths JSON, files, bytes, chunk_count,
              retention_mode, retain_until_ns, legal_hold, hold_reason)
    snapshot_chunks(snapshot_id, chunk_id) WITHOUT ROWID      what each snapshot references
    chunk_locks(chunk_id PK, locked_until_ns) WITHOUT ROWID   lock extension by reference: the
                                                              latest retain-until of every live
                                                              snapshot referencing the chunk
    damaged_chunks(chunk_id PK, problem, found_ns)            what the last scrub found
    snapshot_tags(snapshot_id, tag, added_ns, added_by)       tags added in the vault (catalog.tags)
    chunk_uploads(chunk_id PK, node, size) WITHOUT ROWID     who first put each blob (the
                                                              per-node quotas, vault.ingest.quota)
    node_chunks(node, chunk_id, refs) WITHOUT ROWID           per node, each chunk its live
                                                              snapshots reference and how many do

Invariants: a ``chunks`` row is written only after its blob is durable in the store, so a
row always has a blob. A snapshot and all its ``snapshot_chunks`` rows are committed in one
transaction, and only if every referenced chunk has a row. ``node_chunks`` is
``snapshot_chunks`` counted per (node, chunk): it changes in the same transaction as the
references it counts (commit adds one to each, a snapshot's deletion takes one away and drops
rows that reach 0), so "does a snapshot of this node reference this chunk" is one primary-key
lookup however many snapshots share the chunk.

Upload leases (chunks reported present or put to an agent: prune keeps them) are held in
memory, not in a table (``vault.ingest.leases``; migration ``leases-in-memory`` dropped
``chunk_leases``); the catalog grants and checks them under its lock.

Durability: WAL journal with ``synchronous=FULL``; a snapshot commit checkpoints and truncates
a WAL of ``WAL_FOLD_BYTES`` or more, so a vault at rest holds its catalog about once.
Concurrency: one connection shared by all gRPC worker threads behind a lock; every public method
is one short transaction.
"""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bulwark.vault.catalog.record import (
    BATCH,
    SNAPSHOT_ID_CONTEXT,
    SnapshotRecord,
    batches,
    record_of_row,
    snapshot_id,
)
from bulwark.vault.catalog.schema import migrate
from bulwark.vault.errors import InvalidRequest, MissingChunks, NotFound, StorageError, short_id
from bulwark.vault.ingest.leases import Leases
from bulwark.vault.worm.clock import Clock, SystemClock
from bulwark.vault.worm.retention import date
from bulwark.vault.worm.signals import LATEST_CLEAN, Mark, mark_json

__all__ = ["BATCH", "SNAPSHOT_ID_CONTEXT", "Catalog", "SnapshotRecord", "snapshot_id"]

_HEX = frozenset("0123456789abcdef")
#: A snapshot commit checkpoints and truncates the WAL once it is at least this large.
WAL_FOLD_BYTES = 256 * 1024


class Catalog:
    """The catalog database at ``path`` (created with the current schema if new).

    ``clock`` stamps ``chunks.stored_ns``; snapshot times come in the record.
    """

    def __init__(self, path: Path, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._leases = Leases()  # upload leases, in memory (vault.ingest.leases)
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
        migrate(self._db, self.path)

    # -- chunks ---------------------------------------------------------------------------

    def record_chunks(
        self, chunks: Iterable[tuple[bytes, int, bytes]], lease_until_ns: int = 0,
        uploader: str = "",
    ) -> None:
        """Record ``(id, size, digest)`` rows in one transaction; existing rows are kept.

        Call only after the blobs are durable in the store. With ``lease_until_ns`` every id
        is also leased until then (prune keeps it until the uploader's commit). With
        ``uploader`` (a caller's name), each id new to the catalog is charged to it in
        ``chunk_uploads`` in the same transaction (vault.ingest.quota).
        """
        stored_ns = self._clock.now_ns()
        rows = [(cid, size, digest, stored_ns) for cid, size, digest in chunks]
        with self._transaction() as db:
            for cid, size, digest, ns in rows:
                new = db.execute("INSERT OR IGNORE INTO chunks VALUES (?, ?, ?, ?)",
                                 (cid, size, digest, ns)).rowcount
                if new and uploader:
                    db.execute("INSERT OR IGNORE INTO chunk_uploads VALUES (?, ?, ?)",
                               (cid, uploader, size))
            if lease_until_ns:
                self._leases.grant((r[0] for r in rows), lease_until_ns)

    def missing_chunks(self, chunk_ids: Sequence[bytes], lease_until_ns: int = 0) -> list[bytes]:
        """The ids of ``chunk_ids`` without a row, in input order (duplicates kept).

        With ``lease_until_ns``, every id reported present is leased until then (in memory,
        vault.ingest.leases) under the same lock as the lookup, so prune cannot remove a chunk
        between the answer "present" and the agent's commit (docs/worm.md, "Leases"). Reads
        only: nothing is written to the catalog.
        """
        present: set[bytes] = set()
        with self._locked() as db:
            for batch in batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                rows = db.execute(f"SELECT id FROM chunks WHERE id IN ({marks})", batch)
                present.update(bytes(r[0]) for r in rows)
            if lease_until_ns and present:
                self._leases.grant(present, lease_until_ns)
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
            for batch in batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                rows = db.execute(
                    f"SELECT chunk_id FROM node_chunks WHERE node = ? AND chunk_id IN ({marks})",
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
                "INSERT INTO snapshots (id, time_ns, node, header, signature, tags, paths,"
                " files, bytes, chunk_count, retention_mode, retain_until_ns, legal_hold,"
                " hold_reason, suspicious, mark)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    record.retention.mode,
                    record.retention.retain_until_ns,
                    int(record.retention.legal_hold),
                    record.retention.hold_reason,
                    int(record.mark.suspicious),
                    mark_json(record.mark),
                ),
            )
            db.execute(
                "INSERT INTO snapshot_chunks SELECT ?, id FROM temp.commit_ids", (record.id,)
            )
            db.execute(
                "INSERT INTO node_chunks SELECT ?, id, 1 FROM temp.commit_ids WHERE true"
                " ON CONFLICT (node, chunk_id) DO UPDATE SET refs = refs + 1", (record.node,)
            )
            # Lock extension by reference: an old chunk reused now is locked at least as
            # long as this snapshot.
            db.execute(
                "INSERT INTO chunk_locks SELECT id, ? FROM temp.commit_ids WHERE true"
                " ON CONFLICT (chunk_id) DO UPDATE"
                " SET locked_until_ns = MAX(locked_until_ns, excluded.locked_until_ns)",
                (record.retention.retain_until_ns,),
            )
            db.execute("DELETE FROM temp.commit_ids")
        self._fold_wal()
        return record

    def _fold_wal(self) -> None:
        """Copy the WAL into the database and truncate it to zero bytes, once it holds
        ``WAL_FOLD_BYTES`` or more.

        Called after each snapshot commit: a backup's many short transactions leave a WAL of
        up to ~4 MB (SQLite checkpoints at 1000 pages and then reuses the file without
        shrinking it) holding old versions of the same pages, which would otherwise stay on
        the vault's disk next to the catalog itself. The threshold keeps the checkpoint's two
        fsyncs (20-40 ms) off commits that add little. A checkpoint another connection blocks
        (a reader inside a transaction) simply does not truncate this time. Errors are not
        raised: the snapshot is already durable in the WAL, so its commit must not be
        reported failed; SQLite's own checkpoints and the next commit try again.
        """
        try:
            if os.stat(f"{self.path}-wal").st_size < WAL_FOLD_BYTES:
                return
        except OSError:
            return
        with self._lock:
            try:
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            except sqlite3.Error:
                pass

    def list_snapshots(self, node: str | None = None) -> list[SnapshotRecord]:
        """Every snapshot (of ``node`` if given), oldest first."""
        where, args = ("WHERE node = ?", (node,)) if node else ("", ())
        with self._locked() as db:
            rows = db.execute(f"SELECT * FROM snapshots {where} ORDER BY time_ns, id", args)
            return [record_of_row(r) for r in rows]

    def snapshot_page(
        self, node: str | None, newest_first: bool, after: tuple[int, str] | None, limit: int
    ) -> list[SnapshotRecord]:
        """Up to ``limit`` snapshots (of ``node`` if given) in (time_ns, id) order, or the
        reverse with ``newest_first``, strictly after the key ``after`` (None: from the
        start). Keyset paging: a listing of any length holds the lock one page at a time."""
        clauses, args = [], []
        if node:
            clauses.append("node = ?")
            args.append(node)
        if after is not None:
            clauses.append(f"(time_ns, id) {'<' if newest_first else '>'} (?, ?)")
            args += list(after)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        order = "DESC" if newest_first else "ASC"
        with self._locked() as db:
            rows = db.execute(
                f"SELECT * FROM snapshots {where} ORDER BY time_ns {order}, id {order} LIMIT ?",
                (*args, limit),
            )
            return [record_of_row(r) for r in rows]

    def count_after(self, after: tuple[int, str] | None) -> tuple[int, int]:
        """How many snapshots come after the key ``after`` in (time_ns, id) order, and the
        time_ns of the first of them (0 if none): the replication feed's backlog."""
        where, args = ("WHERE (time_ns, id) > (?, ?)", tuple(after)) if after else ("", ())
        with self._locked() as db:
            count, first = db.execute(
                f"SELECT count(*), MIN(time_ns) FROM snapshots {where}", args).fetchone()
        return count, first or 0

    def snapshot_chunk_ids(self, snapshot_id: str) -> list[bytes]:
        """The distinct chunk ids ``snapshot_id`` references, by id (its commit's id list)."""
        with self._locked() as db:
            self._one(db, snapshot_id, "id")
            rows = db.execute("SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id = ?"
                              " ORDER BY chunk_id", (snapshot_id,)).fetchall()
        return [bytes(r[0]) for r in rows]

    def chunk_locks(self, chunk_ids: Sequence[bytes]) -> dict[bytes, int]:
        """``{id: locked_until_ns}`` for those of ``chunk_ids`` with a lock by reference (a
        chunk no snapshot has referenced yet is absent). The S3 store's bucket layer asks
        this to extend each object lock only when it must rise (vault.store.s3_records)."""
        locks: dict[bytes, int] = {}
        with self._locked() as db:
            for batch in batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                for cid, until in db.execute(
                        "SELECT chunk_id, locked_until_ns FROM chunk_locks"
                        f" WHERE chunk_id IN ({marks})", batch):
                    locks[bytes(cid)] = until
        return locks

    def held_chunks(self, chunk_ids: Sequence[bytes], excluding: str = "") -> set[bytes]:
        """Those of ``chunk_ids`` that a snapshot under legal hold references, not counting
        ``excluding`` (a snapshot id): the chunks whose object legal hold must stay on when
        that snapshot's hold is cleared (vault.store.s3_records)."""
        found: set[bytes] = set()
        with self._locked() as db:
            for batch in batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                rows = db.execute(
                    "SELECT DISTINCT sc.chunk_id FROM snapshot_chunks sc JOIN snapshots s"
                    " ON s.id = sc.snapshot_id WHERE s.legal_hold = 1 AND s.id != ?"
                    f" AND sc.chunk_id IN ({marks})", (excluding, *batch))
                found.update(bytes(r[0]) for r in rows)
        return found

    def has_snapshot(self, snapshot_id: str) -> bool:
        with self._locked() as db:
            row = db.execute("SELECT 1 FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        return row is not None

    def resolve(self, ref: str, node: str | None = None) -> SnapshotRecord:
        """Find one snapshot by full id, unique id prefix, ``"latest"`` or ``"latest-clean"``
        (the newest not marked suspicious, vault.worm.signals).

        ``node`` narrows the search (for ``latest``: the newest of that node). A prefix that
        matches several snapshots raises ``InvalidRequest`` saying how many; no match raises
        ``NotFound``. A ref that is neither ``latest`` nor lowercase hex is ``InvalidRequest``.
        """
        scope = " AND node = ?" if node else ""
        extra: tuple[str, ...] = (node,) if node else ()
        if ref in ("latest", LATEST_CLEAN):
            clean = " AND suspicious = 0" if ref == LATEST_CLEAN else ""
            sql = (f"SELECT * FROM snapshots WHERE 1{scope}{clean}"
                   " ORDER BY time_ns DESC, id DESC LIMIT 1")
            args: tuple[str, ...] = extra
        elif ref and len(ref) <= 64 and set(ref) <= _HEX:
            sql = f"SELECT * FROM snapshots WHERE id GLOB ?{scope} ORDER BY id LIMIT 2"
            args = (ref + "*", *extra)
        else:
            raise InvalidRequest(
                f"snapshot reference {ref!r}: expected a full id, an id prefix "
                "(lowercase hex), 'latest' or 'latest-clean'"
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
        return record_of_row(rows[0])

    def set_mark(self, snapshot_id: str, mark: Mark) -> None:
        """Record a snapshot's ransomware-signal mark (vault.worm.signals decides it)."""
        with self._transaction() as db:
            self._one(db, snapshot_id, "id")
            db.execute("UPDATE snapshots SET suspicious = ?, mark = ? WHERE id = ?",
                       (int(mark.suspicious), mark_json(mark), snapshot_id))

    def new_chunk_count(self, node: str, chunk_ids: Iterable[bytes]) -> int:
        """How many of ``chunk_ids`` no snapshot of ``node`` references yet (one indexed
        lookup per id): the vault's keyless view of how much of a commit is new."""
        new = 0
        with self._locked() as db:
            for batch in batches(list(set(chunk_ids))):
                marks = ",".join("?" * len(batch))
                (known,) = db.execute(
                    f"SELECT count(*) FROM node_chunks WHERE node = ? AND chunk_id IN ({marks})",
                    (node, *batch)).fetchone()
                new += len(batch) - known
        return new

    # -- retention, holds, deletion (vault.worm.retention decides; these only record) --------

    def set_retain_until(self, snapshot_id: str, until_ns: int) -> None:
        """Move a snapshot's retain-until. Chunk locks follow: raised with MAX when it grows,
        recomputed from the live references when it shrinks (governance bypass)."""
        with self._transaction() as db:
            (old,) = self._one(db, snapshot_id, "retain_until_ns")
            db.execute(
                "UPDATE snapshots SET retain_until_ns = ? WHERE id = ?", (until_ns, snapshot_id)
            )
            if until_ns >= old:
                db.execute(
                    "UPDATE chunk_locks SET locked_until_ns = MAX(locked_until_ns, ?) WHERE"
                    " chunk_id IN (SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id = ?)",
                    (until_ns, snapshot_id),
                )
            else:
                _fill_relock(db, snapshot_id)
                _relock(db)

    def set_legal_hold(self, snapshot_id: str, hold: bool, reason: str) -> None:
        with self._transaction() as db:
            self._one(db, snapshot_id, "id")
            db.execute(
                "UPDATE snapshots SET legal_hold = ?, hold_reason = ? WHERE id = ?",
                (int(hold), reason if hold else "", snapshot_id),
            )

    def delete_snapshot(self, snapshot_id: str) -> None:
        """Remove a snapshot and its references (its chunks stay until prune). The rules in
        ``vault.worm.retention`` must have allowed it; a held snapshot is refused here too."""
        with self._transaction() as db:
            (held,) = self._one(db, snapshot_id, "legal_hold")
            if held:
                raise StorageError(f"snapshot {short_id(snapshot_id)}: held; not deleted")
            _delete_snapshot(db, snapshot_id)

    @staticmethod
    def _one(db: sqlite3.Connection, snapshot_id: str, column: str) -> sqlite3.Row:
        row = db.execute(f"SELECT {column} FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
        if row is None:
            raise NotFound(f"snapshot {short_id(snapshot_id, 12)}: no such snapshot")
        return row

    def chunk_lock(self, chunk_id: bytes, now_ns: int) -> str | None:
        """Why ``chunk_id`` must not be deleted at ``now_ns`` (``None``: it may be).

        The store's lock oracle: a live snapshot references it, its lock (the latest
        retain-until of the snapshots that referenced it) has not passed, or an upload
        holds a lease on it (vault.ingest.leases: after a restart, every chunk with a row).
        """
        with self._locked() as db:
            ref, lock, row = db.execute(
                "SELECT (SELECT snapshot_id FROM snapshot_chunks WHERE chunk_id = ?1 LIMIT 1),"
                " (SELECT locked_until_ns FROM chunk_locks WHERE chunk_id = ?1),"
                " (SELECT 1 FROM chunks WHERE id = ?1)",
                (chunk_id,),
            ).fetchone()
            lease = self._leases.until_ns(chunk_id, has_row=row is not None)
        if ref is not None:
            return f"referenced by live snapshot {short_id(ref, 12)}"
        if lock is not None and lock > now_ns:
            return f"locked by reference until {date(lock)}"
        if lease > now_ns:
            return f"leased to an upload until {date(lease)}"
        return None

    # -- prune ----------------------------------------------------------------------------

    def expired_snapshots(self, now_ns: int) -> tuple[list[SnapshotRecord], list[SnapshotRecord]]:
        """Snapshots whose retain-until has passed: ``(deletable, held)``, oldest first."""
        with self._locked() as db:
            rows = db.execute(
                "SELECT * FROM snapshots WHERE retain_until_ns <= ? ORDER BY time_ns, id",
                (now_ns,),
            ).fetchall()
        records = [record_of_row(r) for r in rows]
        return (
            [r for r in records if not r.retention.legal_hold],
            [r for r in records if r.retention.legal_hold],
        )

    def delete_expired(self, snapshot_ids: Sequence[str], now_ns: int) -> list[str]:
        """Delete those of ``snapshot_ids`` still expired and unheld, in one transaction."""
        deleted = []
        with self._transaction() as db:
            for sid in snapshot_ids:
                row = db.execute(
                    "SELECT 1 FROM snapshots WHERE id = ? AND legal_hold = 0"
                    " AND retain_until_ns <= ?",
                    (sid, now_ns),
                ).fetchone()
                if row:
                    _delete_snapshot(db, sid)
                    deleted.append(sid)
        return deleted

    def gc_candidates(self, now_ns: int, doomed: Sequence[str] = ()) -> list[tuple[bytes, int]]:
        """``(id, size)`` of chunks prune may delete at ``now_ns``: referenced by no live
        snapshot other than ``doomed`` (for a dry run), lock passed, no lease."""
        with self._transaction() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM temp.doomed")
            db.executemany("INSERT OR IGNORE INTO temp.doomed VALUES (?)", [(d,) for d in doomed])
            rows = db.execute(_GC_CANDIDATES, {"now": now_ns}).fetchall()
            db.execute("DELETE FROM temp.doomed")
            return [(bytes(r[0]), r[1]) for r in self._leases.unleased(rows, now_ns)]

    def forget_chunks(self, chunk_ids: Sequence[bytes], now_ns: int) -> list[tuple[bytes, int]]:
        """Delete the rows of those ``chunk_ids`` that are still GC candidates (leases
        included), in one transaction; returns ``(id, size)`` of the rows deleted. Delete the blobs
        after this (a crash in between leaves blobs without rows: harmless, pruned later)."""
        with self._transaction() as db:
            db.execute("CREATE TEMP TABLE IF NOT EXISTS doomed (id TEXT PRIMARY KEY)")
            db.execute("DELETE FROM temp.doomed")
            db.execute("CREATE TEMP TABLE IF NOT EXISTS forget (id BLOB PRIMARY KEY)")
            db.execute("DELETE FROM temp.forget")
            db.executemany("INSERT OR IGNORE INTO temp.forget VALUES (?)",
                           [(c,) for c in chunk_ids])
            # the candidate rule, checked for these ids only (a walk over every chunk per
            # batch made a large prune quadratic and held the catalog for each walk)
            rows = [(bytes(r[0]), r[1]) for r in self._leases.unleased(
                db.execute(_GC_AMONG, {"now": now_ns}).fetchall(), now_ns)]
            db.execute("DELETE FROM temp.forget")
            ids = [(r[0],) for r in rows]
            db.executemany("DELETE FROM chunks WHERE id = ?", ids)
            db.executemany("DELETE FROM damaged_chunks WHERE chunk_id = ?", ids)
        return rows

    def drop_locks(self, chunk_ids: Sequence[bytes], now_ns: int) -> None:
        """Forget passed locks of chunks whose blobs are gone."""
        with self._transaction() as db:
            db.executemany(
                "DELETE FROM chunk_locks WHERE chunk_id = ? AND locked_until_ns <= ?",
                [(c, now_ns) for c in chunk_ids],
            )

    def purge_leases(self, now_ns: int) -> int:
        """Forget the upload leases that ended by ``now_ns``; how many."""
        with self._locked():
            return self._leases.purge(now_ns)

    def hold_all_leases(self, until_ns: int) -> None:
        """Lease every chunk the catalog holds until ``until_ns``: vaultd's start, when the
        previous process's leases are gone (vault.ingest.leases)."""
        with self._locked():
            self._leases.hold_all(until_ns)

    def newest_time_ns(self) -> int:
        """The newest vault time recorded (snapshot ingest, chunk stored): 0 if none."""
        with self._locked() as db:
            (t,) = db.execute(
                "SELECT MAX(COALESCE((SELECT MAX(time_ns) FROM snapshots), 0),"
                " COALESCE((SELECT MAX(stored_ns) FROM chunks), 0))"
            ).fetchone()
        return t or 0

    # -- scrub ----------------------------------------------------------------------------

    def iter_chunks(self, page: int = 1000) -> Iterator[tuple[bytes, int, bytes]]:
        """Every ``(id, size, digest)`` row, by id, read in pages (safe while writing)."""
        last = b""
        for _ in range(1 << 40):  # bounded: each page advances ``last``
            with self._locked() as db:
                rows = db.execute(
                    "SELECT id, size, digest FROM chunks WHERE id > ? ORDER BY id LIMIT ?",
                    (last, page),
                ).fetchall()
            for r in rows:
                yield bytes(r[0]), r[1], bytes(r[2])
            if len(rows) < page:
                return
            last = bytes(rows[-1][0])

    def has_chunk(self, chunk_id: bytes) -> bool:
        with self._locked() as db:
            row = db.execute("SELECT 1 FROM chunks WHERE id = ?", (chunk_id,)).fetchone()
        return row is not None

    def record_damage(self, damaged: Sequence[tuple[bytes, str]], now_ns: int) -> None:
        """Replace the damage list with what the latest scrub found."""
        with self._transaction() as db:
            db.execute("DELETE FROM damaged_chunks")
            db.executemany(
                "INSERT OR REPLACE INTO damaged_chunks VALUES (?, ?, ?)",
                [(c, problem, now_ns) for c, problem in damaged],
            )

    def snapshots_referencing_many(self, chunk_ids: Sequence[bytes]) -> dict[bytes, list[str]]:
        """For each id, the snapshots referencing it (oldest first)."""
        return {c: self.snapshots_referencing(c) for c in chunk_ids}


_GC_RULE = """
LEFT JOIN chunk_locks l ON l.chunk_id = c.id
WHERE COALESCE(l.locked_until_ns, 0) <= :now
  AND NOT EXISTS (
      SELECT 1 FROM snapshot_chunks sc
      WHERE sc.chunk_id = c.id AND sc.snapshot_id NOT IN (SELECT id FROM temp.doomed))
ORDER BY c.id
"""
_GC_CANDIDATES = "SELECT c.id, c.size FROM chunks c" + _GC_RULE
_GC_AMONG = (  # CROSS JOIN: SQLite then walks the batch, not every chunk in id order
    "SELECT c.id, c.size FROM temp.forget f CROSS JOIN chunks c ON c.id = f.id" + _GC_RULE)


def _fill_relock(db: sqlite3.Connection, snapshot_id: str) -> None:
    """Note the chunks ``snapshot_id`` references, for ``_relock``."""
    db.execute("CREATE TEMP TABLE IF NOT EXISTS relock (chunk_id BLOB PRIMARY KEY)")
    db.execute("DELETE FROM temp.relock")
    db.execute(
        "INSERT INTO temp.relock SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id = ?",
        (snapshot_id,),
    )


def _relock(db: sqlite3.Connection) -> None:
    """Recompute the locks of the chunks in ``temp.relock`` from the live references."""
    db.execute(
        "UPDATE chunk_locks SET locked_until_ns = COALESCE((SELECT MAX(s.retain_until_ns)"
        " FROM snapshot_chunks sc JOIN snapshots s ON s.id = sc.snapshot_id"
        " WHERE sc.chunk_id = chunk_locks.chunk_id), 0)"
        " WHERE chunk_id IN (SELECT chunk_id FROM temp.relock)"
    )
    db.execute("DELETE FROM temp.relock")


def _delete_snapshot(db: sqlite3.Connection, snapshot_id: str) -> None:
    _fill_relock(db, snapshot_id)
    (node,) = db.execute("SELECT node FROM snapshots WHERE id = ?", (snapshot_id,)).fetchone()
    db.execute("UPDATE node_chunks SET refs = refs - 1"
               " WHERE node = ? AND chunk_id IN (SELECT chunk_id FROM temp.relock)", (node,))
    db.execute("DELETE FROM node_chunks"
               " WHERE node = ? AND refs <= 0 AND chunk_id IN (SELECT chunk_id FROM temp.relock)",
               (node,))
    db.execute("DELETE FROM snapshot_chunks WHERE snapshot_id = ?", (snapshot_id,))
    db.execute("DELETE FROM snapshots WHERE id = ?", (snapshot_id,))
    _relock(db)
