"""With the S3 store the bucket is the source of truth (DESIGN.md §9, issue 17).

Everything the catalog and the audit log hold that cannot be recomputed is written to the
bucket as locked objects too, *before* the local SQLite files record it, so a lost vault
host loses no data: ``rebuild`` makes a new catalog and audit log from the bucket alone.

Objects (beside ``chunks/``, see ``vault.store.s3``)::

    index/<wall ns, 20 digits>-<8 hex>   (id 32 B, BLAKE3 digest 32 B, size u64 LE) per chunk
                                         of one PutChunks message; locked like its chunks
    snapshots/<snapshot id>              the snapshot record (JSON, ``RECORD_FORMAT``): signed
                                         header and signature verbatim, ingest time, sorted
                                         chunk ids, retention. Each retention or hold change
                                         writes a new version; a deleted snapshot gets a delete
                                         marker. Locked in the vault's mode until the
                                         snapshot's retain-until; object legal hold while held.
    audit/<seq, 20 digits>               one audit entry as ``vaultctl audit --json`` prints it;
                                         locked for ``[retention] default_days``
    damage/list                          the last scrub's damage list (JSON, ``DAMAGE_FORMAT``);
                                         a new version per scrub, locked like audit entries

An index object's ``uploader`` metadata names the caller its new chunks were charged to
(``chunk_uploads``, the per-node quotas); a record's ``added_tags`` are the tags added in the
vault (``vault.catalog.tags``). ``vaultd/owner`` is ``vault.store.s3_owner``'s.

Hooks: ``BucketCatalog`` (a ``Catalog``) and ``BucketAuditLog`` (an ``AuditLog``) do the
bucket's part of each change first, then the local one, so a failure in the bucket leaves
the vault as it was (nothing half-committed; a crash after the bucket and before SQLite at
worst leaves a complete, locked snapshot that the catalog learns at the next rebuild):

* a commit checks every chunk is held, extends the object retention of every referenced
  chunk whose lock rises (lock extension by reference, enforced by the object store), writes
  the record, then commits to the catalog;
* extending a snapshot's retention extends its chunks the same way;
* a legal hold sets object legal holds on its record and chunks; clearing it releases the
  chunks no other held snapshot references;
* a delete hides the record with a delete marker, then deletes its unlocked versions.

Concurrency: one vaultd per bucket, enforced across hosts by ``vault.store.s3_owner``.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import sqlite3
import struct
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

from botocore.exceptions import ClientError

from bulwark.vault.audit.log import AuditEntry, AuditLog
from bulwark.vault.catalog.db import Catalog, SnapshotRecord, snapshot_id
from bulwark.vault.catalog.tags import AddedTag, SnapshotTags, tags_of
from bulwark.vault.errors import (
    IntegrityError,
    MissingChunks,
    NotFound,
    StorageError,
    short_id,
)
from bulwark.vault.store.base import ID_SIZE, blob_digest
from bulwark.vault.store.s3 import CHUNKS, S3ChunkStore
from bulwark.vault.worm.clock import Clock, SystemClock
from bulwark.vault.worm.retention import DAY_NS, Retention
from bulwark.vault.worm.signals import Mark, mark_from_json, mark_json

log = logging.getLogger(__name__)

SNAPSHOTS = "snapshots/"
INDEX = "index/"
AUDIT = "audit/"
DAMAGE = "damage/list"
DAMAGE_FORMAT = "bulwark-damage-list-v1"
RECORD_FORMAT = "bulwark-snapshot-record-v1"
_INDEX_ROW = struct.Struct(f"<{ID_SIZE}s32sQ")


# -- encodings ------------------------------------------------------------------------------


def encode_record(record: SnapshotRecord, chunk_ids: Iterable[bytes],
                  added: Sequence[AddedTag] = ()) -> bytes:
    """The snapshot record object: canonical JSON, chunk ids sorted and base64-concatenated;
    ``added``: the tags added in the vault (``vault.catalog.tags``), with when and by whom."""
    r = record.retention
    return json.dumps({
        "format": RECORD_FORMAT,
        "id": record.id,
        "time_ns": record.time_ns,
        "node": record.node,
        "header": base64.b64encode(record.header).decode(),
        "signature": base64.b64encode(record.signature).decode(),
        "tags": list(record.tags),
        "paths": list(record.paths),
        "files": record.files,
        "bytes": record.bytes,
        "chunk_count": record.chunk_count,
        "retention": {"mode": r.mode, "retain_until_ns": r.retain_until_ns,
                      "legal_hold": r.legal_hold, "hold_reason": r.hold_reason},
        "mark": mark_json(record.mark),
        "added_tags": [{"tag": t, "added_ns": ns, "added_by": by}
                       for t, ns, by in sorted(added)],
        "chunk_ids": base64.b64encode(b"".join(sorted(set(chunk_ids)))).decode(),
    }, sort_keys=True, separators=(",", ":")).encode()


def decode_record(data: bytes, key: str) -> tuple[SnapshotRecord, list[bytes]]:
    """Inverse of ``encode_record``; ``IntegrityError`` naming ``key`` if it is malformed or
    its id is not the one its header, signature and time give."""
    try:
        doc = json.loads(data)
        if doc.get("format") != RECORD_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {RECORD_FORMAT}")
        ids_blob = base64.b64decode(doc["chunk_ids"], validate=True)
        if len(ids_blob) % ID_SIZE:
            raise ValueError("chunk_ids is not a whole number of 32-byte ids")
        ids = [ids_blob[i : i + ID_SIZE] for i in range(0, len(ids_blob), ID_SIZE)]
        r = doc["retention"]
        record = SnapshotRecord(
            id=str(doc["id"]), time_ns=int(doc["time_ns"]), node=str(doc["node"]),
            header=base64.b64decode(doc["header"], validate=True),
            signature=base64.b64decode(doc["signature"], validate=True),
            tags=tuple(doc["tags"]), paths=tuple(doc["paths"]), files=int(doc["files"]),
            bytes=int(doc["bytes"]), chunk_count=int(doc["chunk_count"]),
            retention=Retention(str(r["mode"]), int(r["retain_until_ns"]),
                                bool(r["legal_hold"]), str(r["hold_reason"])),
            mark=mark_from_json(str(doc.get("mark", ""))),  # absent before issue 18
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"{key}: not a snapshot record: {exc}") from None
    if snapshot_id(record.header, record.signature, record.time_ns) != record.id:
        raise IntegrityError(f"{key}: the id does not match its header, signature and time")
    if len(ids) != record.chunk_count:
        raise IntegrityError(f"{key}: {len(ids)} chunk ids, chunk_count says "
                             f"{record.chunk_count}")
    return record, ids


def decode_added_tags(data: bytes, key: str) -> list[AddedTag]:
    """The ``added_tags`` of a record object ``encode_record`` made (none before they were
    mirrored); ``IntegrityError`` naming ``key`` if they are malformed."""
    try:
        return [(str(t["tag"]), int(t["added_ns"]), str(t["added_by"]))
                for t in json.loads(data).get("added_tags", [])]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise IntegrityError(f"{key}: added_tags: {exc}") from None


def encode_index(rows: Iterable[tuple[bytes, int, bytes]]) -> bytes:
    return b"".join(_INDEX_ROW.pack(cid, digest, size) for cid, size, digest in rows)


def decode_index(data: bytes) -> list[tuple[bytes, int, bytes]]:
    usable = len(data) - len(data) % _INDEX_ROW.size
    return [(cid, size, digest) for cid, digest, size in _INDEX_ROW.iter_unpack(data[:usable])]


# -- writing to the bucket ------------------------------------------------------------------


class BucketRecords:
    """Writes index, snapshot and audit objects through ``store`` (its client and errors)."""

    def __init__(self, store: S3ChunkStore, audit_days: int = 30) -> None:
        self.store = store
        self.audit_days = audit_days

    def put_index(self, rows: Sequence[tuple[bytes, int, bytes]], uploader: str = "") -> None:
        """One index object for ``rows``; ``uploader`` (the caller the new ones are charged
        to, ``chunk_uploads``) goes in its ``uploader`` metadata, percent-encoded."""
        if not rows:
            return
        key = f"{INDEX}{self.store._wall():020d}-{secrets.token_hex(4)}"
        until = self.store._wall() + self.store.put_lock_ns
        meta = {"Metadata": {"uploader": quote(uploader, safe="")}} if uploader else {}
        self.store._call("put_object", key, Body=encode_index(rows), **meta,
                         **self.store.lock_args(until))

    def put_snapshot(self, record: SnapshotRecord, chunk_ids: Iterable[bytes],
                     added: Sequence[AddedTag] = ()) -> None:
        """A new version of the record, locked until the snapshot's retain-until."""
        r = record.retention
        self.store._call(
            "put_object", SNAPSHOTS + record.id, Body=encode_record(record, chunk_ids, added),
            ContentType="application/json",
            **self.store.lock_args(self.store.wall_until(r.retain_until_ns), r.legal_hold))

    def release_record(self, sid: str) -> None:
        """Clear the legal hold of every version of the record."""
        for version_id, marker in self.store.versions(SNAPSHOTS + sid):
            if not marker:
                self.store.set_hold(SNAPSHOTS + sid, False, version_id)

    def hide_snapshot(self, sid: str) -> None:
        """A delete marker (always allowed), then delete the versions the store lets go."""
        key = SNAPSHOTS + sid
        self.store._call("delete_object", key)
        for version_id, marker in self.store.versions(key):
            if marker:
                continue
            try:
                self.store._call("delete_object", key, VersionId=version_id)
            except (ClientError, StorageError) as exc:  # locked versions stay, hidden
                log.info("snapshot record %s version %s kept by the object store: %s",
                         sid, version_id, exc)

    def put_damage(self, damaged: Sequence[tuple[bytes, str]], found_ns: int) -> None:
        """A new version of ``damage/list``: what the latest scrub found (JSON), locked for
        ``[retention] default_days`` like the audit entries."""
        until = self.store._wall() + self.audit_days * DAY_NS
        body = json.dumps({"format": DAMAGE_FORMAT, "found_ns": found_ns,
                           "chunks": [[c.hex(), problem] for c, problem in damaged]},
                          sort_keys=True).encode()
        self.store._call("put_object", DAMAGE, Body=body, ContentType="application/json",
                         **self.store.lock_args(until))

    def put_audit(self, entry: AuditEntry) -> None:
        until = self.store._wall() + self.audit_days * DAY_NS
        self.store._call("put_object", f"{AUDIT}{entry.seq:020d}",
                         Body=json.dumps(entry.to_json(), sort_keys=True).encode(),
                         ContentType="application/json", **self.store.lock_args(until))

    def last_audit_seq(self) -> int:
        last = 0
        for key, _size in self.store.list_keys(AUDIT):
            name = key[len(AUDIT):]
            if name.isdigit():
                last = max(last, int(name))
        return last


# -- the hooks ------------------------------------------------------------------------------


class BucketCatalog(Catalog):
    """The catalog of a vault on the S3 store: every change reaches the bucket first."""

    def __init__(self, path: Path, store: S3ChunkStore, records: BucketRecords,
                 clock: Clock | None = None) -> None:
        super().__init__(path, clock)
        self.store = store
        self.records = records
        # A record's versions are written one change at a time, each from the state the
        # change leaves (vault.catalog.tags takes it around a tag change too).
        self.record_lock = threading.RLock()

    def _put_record(self, record: SnapshotRecord, chunk_ids: Sequence[bytes]) -> None:
        self.records.put_snapshot(record, chunk_ids, tags_of(self).rows(record.id))

    def mirror_tags(self, snapshot_id: str, added: Sequence[AddedTag]) -> None:
        """A new version of the record with ``added`` as its added tags (``SnapshotTags``
        calls this inside its transaction, under ``record_lock``, before it commits)."""
        rec = self.resolve(snapshot_id)
        self.records.put_snapshot(rec, self.snapshot_chunk_ids(rec.id), added)

    def compact_bucket(self) -> None:
        """After a prune: superseded index objects replaced (``vault.store.s3_compact``)."""
        from bulwark.vault.store.s3_compact import compact_index

        report = compact_index(self, self.records)
        if report.written or report.deleted:
            log.info("s3://%s index compacted: %d object(s) written, %d deleted, %d still "
                     "locked", self.store.bucket, report.written, report.deleted,
                     report.refused)

    def record_damage(self, damaged: Sequence[tuple[bytes, str]], now_ns: int) -> None:
        self.records.put_damage(damaged, now_ns)
        super().record_damage(damaged, now_ns)

    def lock_rises(self, chunk_ids: Sequence[bytes], until_ns: int) -> list[bytes]:
        """Those of ``chunk_ids`` whose object lock must rise for ``until_ns``: no lock by
        reference yet, or one that ``store.step_up`` puts in an earlier step."""
        locks = self.chunk_locks(chunk_ids)
        step = self.store.step_up
        target = step(until_ns)
        return [c for c in chunk_ids if c not in locks or step(locks[c]) < target]

    # Each override keeps Catalog's signature exactly (tests/vault/store/test_s3_records.py
    # checks it), so an argument added to the catalog cannot bypass or break the bucket.

    def record_chunks(self, chunks: Iterable[tuple[bytes, int, bytes]],
                      lease_until_ns: int = 0, uploader: str = "") -> None:
        rows = list(chunks)
        self.records.put_index(rows, uploader)
        super().record_chunks(rows, lease_until_ns, uploader)

    def commit_snapshot(self, record: SnapshotRecord,
                        chunk_ids: Iterable[bytes]) -> SnapshotRecord:
        ids = sorted(set(chunk_ids))
        missing = self.missing_chunks(ids)
        if missing:
            raise MissingChunks(missing)
        until = record.retention.retain_until_ns
        self.store.lock(self.lock_rises(ids, until), until)
        if record.retention.legal_hold:
            self.store.hold(ids, True)
        self.records.put_snapshot(record, ids)
        return super().commit_snapshot(record, ids)

    def set_retain_until(self, snapshot_id: str, until_ns: int) -> None:
        with self.record_lock:
            self._set_retain_until(snapshot_id, until_ns)

    def _set_retain_until(self, snapshot_id: str, until_ns: int) -> None:
        rec = self.resolve(snapshot_id)
        ids = self.snapshot_chunk_ids(rec.id)
        new = replace(rec, retention=replace(rec.retention, retain_until_ns=until_ns))
        if until_ns >= rec.retention.retain_until_ns:
            self.store.lock(self.lock_rises(ids, until_ns), until_ns)
            self._put_record(new, ids)
            super().set_retain_until(rec.id, until_ns)
        else:  # governance bypass: the objects keep their longer retention
            super().set_retain_until(rec.id, until_ns)
            self._put_record(new, ids)

    def set_legal_hold(self, snapshot_id: str, hold: bool, reason: str) -> None:
        with self.record_lock:
            self._set_legal_hold(snapshot_id, hold, reason)

    def _set_legal_hold(self, snapshot_id: str, hold: bool, reason: str) -> None:
        rec = self.resolve(snapshot_id)
        ids = self.snapshot_chunk_ids(rec.id)
        new = replace(rec, retention=replace(rec.retention, legal_hold=hold,
                                             hold_reason=reason if hold else ""))
        if hold:
            self.store.hold(ids, True)
            self._put_record(new, ids)
            super().set_legal_hold(rec.id, hold, reason)
            return
        super().set_legal_hold(rec.id, hold, reason)
        self.store.hold(sorted(set(ids) - self.held_chunks(ids, excluding=rec.id)), False)
        self.records.release_record(rec.id)
        self._put_record(new, ids)

    def set_mark(self, snapshot_id: str, mark: Mark) -> None:
        with self.record_lock:
            rec = self.resolve(snapshot_id)
            self._put_record(replace(rec, mark=mark), self.snapshot_chunk_ids(rec.id))
            super().set_mark(rec.id, mark)

    def delete_snapshot(self, snapshot_id: str) -> None:
        rec = self.resolve(snapshot_id)
        if rec.retention.legal_hold:
            super().delete_snapshot(rec.id)  # refuses
        self.records.hide_snapshot(rec.id)
        super().delete_snapshot(rec.id)

    def delete_expired(self, snapshot_ids: Sequence[str], now_ns: int) -> list[str]:
        deleted = super().delete_expired(snapshot_ids, now_ns)
        for sid in deleted:  # were it to fail here, a rebuild brings back expired snapshots
            self.records.hide_snapshot(sid)
        return deleted


class BucketAuditLog(AuditLog):
    """The audit log of a vault on the S3 store: each entry is mirrored as a locked object
    before ``append`` returns (and any entry a failed earlier mirror missed, first)."""

    def __init__(self, path: Path, clock: Clock, records: BucketRecords, **kw: Any) -> None:
        super().__init__(path, clock, **kw)
        self.records = records
        self._mirror_lock = threading.Lock()
        self._mirrored = records.last_audit_seq()
        head = self.head()
        if (head.seq if head else 0) < self._mirrored:
            raise StorageError(
                f"audit log {path} ends at seq {head.seq if head else 0} but the bucket holds "
                f"entries up to seq {self._mirrored}: the bucket is the source of truth; "
                "rebuild the local copy from it with vaultd --reindex (the old file is kept)")

    def append(self, *args: Any, **kwargs: Any) -> AuditEntry:
        entry = super().append(*args, **kwargs)
        with self._mirror_lock:
            for pending in self.entries(self._mirrored + 1):
                self.records.put_audit(pending)
                self._mirrored = pending.seq
        return entry


# -- rebuild --------------------------------------------------------------------------------


@dataclass
class RebuildReport:
    chunks: int = 0
    hashed: int = 0  # chunks without an index row, whose digest was computed from the blob
    snapshots: int = 0
    audit_entries: int = 0
    skipped: list[str] = field(default_factory=list)  # snapshot records not restored: why
    requests: int = 0


def _get(store: S3ChunkStore, key: str) -> bytes:
    return _get_with_uploader(store, key)[0]


def _get_with_uploader(store: S3ChunkStore, key: str) -> tuple[bytes, str]:
    """The object's bytes and its ``uploader`` metadata (``put_index``; "" if none)."""
    response = store._call("get_object", key)
    body = response["Body"]
    try:
        data = body.read()
    finally:
        body.close()
    return data, unquote(response.get("Metadata", {}).get("uploader", ""))


def rebuild(store: S3ChunkStore, catalog_path: Path, audit_path: Path,
            clock: Clock | None = None) -> RebuildReport:
    """Make a new catalog at ``catalog_path`` and audit log at ``audit_path`` from the bucket
    alone. Both must not exist (``StorageError`` otherwise: move them away first)."""
    for path in (catalog_path, audit_path):
        if path.exists():
            raise StorageError(f"rebuild: {path} exists; move it away to rebuild it")
    before = store.requests
    report = rebuild_catalog(store, catalog_path, clock)
    report.audit_entries = rebuild_audit(store, audit_path, clock)
    report.requests = store.requests - before
    return report


def rebuild_catalog(store: S3ChunkStore, catalog_path: Path,
                    clock: Clock | None = None) -> RebuildReport:
    """The catalog part of ``rebuild``: chunks (size and digest from the index objects,
    else from the listing and the hashed blob), each charged to the uploader its first index
    object names, every visible snapshot record with its added tags, and the last scrub's
    damage list."""
    before = store.requests
    report = RebuildReport()
    sizes = {bytes.fromhex(k[len(CHUNKS):]): size for k, size in store.list_keys(CHUNKS)
             if len(k) == len(CHUNKS) + 2 * ID_SIZE}
    known: dict[bytes, tuple[int, bytes]] = {}
    uploaders: dict[bytes, str] = {}  # the first index object naming a chunk charges it
    index_keys = sorted(k for k, _ in store.list_keys(INDEX))
    for blob, uploader in store._map(lambda k: _get_with_uploader(store, k), index_keys):
        for cid, size, digest in decode_index(blob):
            # The locked index row wins over the listing: a listed size that differs is a
            # version stacked on the blob since, which must stay detectable, not adopted.
            if cid in sizes:
                known[cid] = (size, digest)
                uploaders.setdefault(cid, uploader)
    unknown = [c for c in sizes if c not in known]
    for cid, digest in zip(unknown, store._map(lambda c: blob_digest(store.get(c)), unknown),
                           strict=True):
        known[cid] = (sizes[cid], digest)
    report.hashed = len(unknown)
    catalog = Catalog(catalog_path, clock)
    try:
        by_uploader: dict[str, list[tuple[bytes, int, bytes]]] = {}
        for cid, (size, digest) in known.items():
            by_uploader.setdefault(uploaders.get(cid, ""), []).append((cid, size, digest))
        for uploader, rows in sorted(by_uploader.items()):
            for i in range(0, len(rows), 10_000):
                catalog.record_chunks(rows[i : i + 10_000], uploader=uploader)
        report.chunks = len(known)
        keys = [k for k, _ in store.list_keys(SNAPSHOTS)]
        decoded = []
        for key, data in zip(keys, store._map(lambda k: _get(store, k), keys), strict=True):
            try:
                decoded.append((*decode_record(data, key), decode_added_tags(data, key)))
            except IntegrityError as exc:
                report.skipped.append(str(exc))
        added: list[tuple[str, str, int, str]] = []
        for record, ids, tags in sorted(decoded, key=lambda d: (d[0].time_ns, d[0].id)):
            try:
                catalog.commit_snapshot(record, ids)
                report.snapshots += 1
                added.extend((record.id, *tag) for tag in tags)
            except MissingChunks as exc:
                report.skipped.append(f"snapshot {short_id(record.id, 12)}: {exc}")
        _restore_damage(store, catalog, known)
    finally:
        catalog.close()
    if added:
        tags = SnapshotTags(catalog_path)
        try:
            tags.restore(added)
        finally:
            tags.close()
    report.requests = store.requests - before
    return report


def _restore_damage(store: S3ChunkStore, catalog: Catalog, known: dict[bytes, Any]) -> None:
    """The last scrub's damage list from ``damage/list``, for the chunks still held."""
    try:
        data = _get(store, DAMAGE)
    except NotFound:
        return
    try:
        doc = json.loads(data)
        if doc.get("format") != DAMAGE_FORMAT:
            raise ValueError(f"format {doc.get('format')!r}, expected {DAMAGE_FORMAT}")
        found_ns = int(doc["found_ns"])
        damaged = [(bytes.fromhex(c), str(problem)) for c, problem in doc["chunks"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"s3://{store.bucket}/{DAMAGE}: not a damage list: {exc}") from None
    catalog.record_damage([(c, p) for c, p in damaged if c in known], found_ns)


def rebuild_audit(store: S3ChunkStore, audit_path: Path, clock: Clock | None) -> int:
    keys = sorted(k for k, _ in store.list_keys(AUDIT) if k[len(AUDIT):].isdigit())
    entries = [AuditEntry.from_json(json.loads(b))
               for b in store._map(lambda k: _get(store, k), keys)]
    entries.sort(key=lambda e: e.seq)
    for key, entry in zip(keys, entries, strict=True):
        if int(key[len(AUDIT):]) != entry.seq:
            raise IntegrityError(f"{key}: holds audit entry seq {entry.seq}")
    AuditLog(audit_path, clock or SystemClock()).close()  # the schema, as the audit module makes it
    db = sqlite3.connect(audit_path, isolation_level=None)
    try:
        db.execute("BEGIN IMMEDIATE")
        db.executemany("INSERT INTO audit VALUES (?, ?, ?, ?)",
                       [(e.seq, e.record, e.prev_hash, e.hash) for e in entries])
        db.execute("COMMIT")
    except sqlite3.Error as exc:
        raise StorageError(f"rebuild audit log {audit_path}: {exc}") from exc
    finally:
        db.close()
    return len(entries)
