"""Prune (GC) and scrub: what leaves the vault, and what is checked at rest (docs/worm.md).

Prune, in this order, each step crash-safe on its own:

1. Expired, unheld snapshots: their rows and references go in one transaction. Skipped
   when vault.toml has ``[[forget]]`` policies (``expire_snapshots=False``): snapshots then
   leave only through forget or delete, and prune only frees space (vault.worm.forget_jobs).
2. Chunks no live snapshot references, whose lock by reference has passed and that no upload
   holds a lease on: per batch, rows first (one transaction, conditions re-checked inside it),
   then blobs (``store.delete``, which asks the lock oracle again). A crash between the two
   leaves blobs without rows; step 3 of the next prune removes them.
3. Blobs without a catalog row (left by a crash), unless the oracle says locked.

Steps 2 and 3 hold ``guard.prune()`` per batch (vault.ingest.upload_guard: exclusive against every
PutChunks message), so an upload cannot record a chunk prune is deleting. A dry run computes
the same sets and deletes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bulwark.protos.contract import legacy_blob_problem
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.errors import BlobLocked, NotFound
from bulwark.vault.ingest.upload_guard import UploadGuard
from bulwark.vault.store.base import ChunkStore, blob_digest
from bulwark.vault.worm.clock import Clock

BATCH = 500


class CatalogLocks:
    """The store's lock oracle in vaultd: the catalog's view at the compliance clock's now."""

    def __init__(self, catalog: Catalog, clock: Clock) -> None:
        self.catalog = catalog
        self.clock = clock

    def why_locked(self, chunk_id: bytes) -> str | None:
        return self.catalog.chunk_lock(chunk_id, self.clock.now_ns())


@dataclass
class PruneReport:
    dry_run: bool
    snapshots: list[str] = field(default_factory=list)
    chunks: int = 0
    bytes: int = 0
    kept_locked: list[str] = field(default_factory=list)  # expired but held
    orphans: int = 0  # blobs without a catalog row removed (or that would be)


def prune(
    catalog: Catalog,
    store: ChunkStore,
    clock: Clock,
    guard: UploadGuard,
    dry_run: bool = True,
    on_snapshot: Callable[[str], None] | None = None,
    expire_snapshots: bool = True,
) -> PruneReport:
    """Run (or, with ``dry_run``, plan) a prune. ``on_snapshot(id)`` is called before each
    snapshot is deleted (vaultd audits it there: the entry is durable before the delete).
    ``expire_snapshots=False`` deletes no snapshot, only what no snapshot references."""
    now = clock.now_ns()
    report = PruneReport(dry_run)
    deletable, held = catalog.expired_snapshots(now) if expire_snapshots else ([], [])
    report.kept_locked = [r.id for r in held]
    doomed = [r.id for r in deletable]
    if dry_run:
        report.snapshots = doomed
        candidates = catalog.gc_candidates(now, doomed)
        report.chunks = len(candidates)
        report.bytes = sum(size for _, size in candidates)
        report.orphans = len(_orphans(catalog, store))
        return report
    for sid in doomed:
        if on_snapshot is not None:
            on_snapshot(sid)
    report.snapshots = catalog.delete_expired(doomed, now)
    catalog.purge_leases(now)
    candidates = [cid for cid, _ in catalog.gc_candidates(now)]
    for i in range(0, len(candidates), BATCH):
        batch = candidates[i : i + BATCH]
        with guard.prune():
            rows = catalog.forget_chunks(batch, now)
            for cid, size in rows:
                try:
                    _delete_blob(store, cid)
                except BlobLocked:  # the object store's lock outlasts the catalog's (S3
                    continue  # lock_step_days, issue 17): rowless now, a later prune's orphan
                report.chunks += 1
                report.bytes += size
        catalog.drop_locks([cid for cid, _ in rows], now)
    orphans = _orphans(catalog, store)
    for i in range(0, len(orphans), BATCH):
        with guard.prune():
            still = set(catalog.missing_chunks(orphans[i : i + BATCH]))
            for cid in still:
                try:
                    _delete_blob(store, cid)
                    report.orphans += 1
                except BlobLocked:
                    pass  # locked by reference although rowless: keep it
    compact = getattr(catalog, "compact_bucket", None)  # the S3 store's index (issue 17)
    if compact is not None:
        compact()
    return report


def _delete_blob(store: ChunkStore, chunk_id: bytes) -> None:
    try:
        store.delete(chunk_id)
    except NotFound:
        pass  # already gone (a crash after the unlink, before the next step)


def _orphans(catalog: Catalog, store: ChunkStore) -> list[bytes]:
    """Stored blobs without a catalog row."""
    orphans: list[bytes] = []
    ids = list(store.iter_ids())
    for i in range(0, len(ids), BATCH):
        orphans.extend(catalog.missing_chunks(ids[i : i + BATCH]))
    return orphans


@dataclass
class Damage:
    chunk_id: bytes
    problem: str
    snapshots: list[str]


@dataclass
class ScrubReport:
    blobs: int = 0
    bytes: int = 0
    damaged: list[Damage] = field(default_factory=list)


def scrub(catalog: Catalog, store: ChunkStore, clock: Clock) -> ScrubReport:
    """Re-read and re-hash every blob the catalog records; record and report damage with the
    snapshots that reference each damaged chunk. A chunk pruned while scrub runs is skipped.

    Damage is: a missing blob, bytes that differ from the recorded digest or size, and a
    legacy (format-v1) blob whose keyless shape does not name its own id (unusable by any
    snapshot: FORMAT.md "Deduplication is verifiable")."""
    report = ScrubReport()
    found: list[tuple[bytes, str]] = []
    for cid, size, digest in catalog.iter_chunks():
        try:
            data = store.get(cid)
        except NotFound:
            if catalog.has_chunk(cid):
                found.append((cid, "blob missing from the store"))
            continue
        report.blobs += 1
        report.bytes += len(data)
        computed = blob_digest(data)
        if computed != digest:
            found.append((cid, "hash mismatch (stored bytes differ from the recorded digest)"))
        elif len(data) != size:
            found.append((cid, f"size {len(data)}, recorded {size}"))
        elif computed != cid and (problem := legacy_blob_problem(cid, data)) is not None:
            # A blob stored before format v2 under an id that is not its hash: it must at
            # least be the v1 blob of that id, or no snapshot can use it (a poisoned upload).
            found.append((cid, f"unusable: {problem}"))
    catalog.record_damage(found, clock.now_ns())
    refs = catalog.snapshots_referencing_many([cid for cid, _ in found])
    report.damaged = [Damage(cid, problem, refs[cid]) for cid, problem in found]
    return report


def damaged_ids(damage: Sequence[Damage]) -> list[str]:
    return [d.chunk_id.hex() for d in damage]
