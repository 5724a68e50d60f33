"""Do the catalog and the chunk store agree? (``bulwark.v1.Check``, ``vaultctl check``)

Read-only: nothing is recorded or deleted. Three passes, each over what is there now:

1. every catalog row: its blob exists, hashes to the recorded digest and has the recorded
   size (re-read and re-hashed, like scrub, but without recording damage);
2. every snapshot: each chunk it references has a catalog row, and it references as many
   chunks as its ``chunk_count`` says;
3. every stored blob: one without a catalog row is *reclaimable* (left by a crash between
   store and catalog, or an upload whose row is being written): not a disagreement, prune
   removes it once no upload holds it.

Any finding of passes 1 and 2 is a *problem* (the CLI exits 1). A row pruned while the check
runs is skipped. Memory: at most ``LISTED`` problems and reclaimable ids are kept (the
counts are complete); the catalog is read through a read-only connection of its own.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from bulwark.vault.catalog.db import BATCH, Catalog
from bulwark.vault.errors import NotFound
from bulwark.vault.store.base import ChunkStore, blob_digest

LISTED = 1000

_DANGLING = """
SELECT sc.snapshot_id, sc.chunk_id FROM snapshot_chunks sc
LEFT JOIN chunks c ON c.id = sc.chunk_id WHERE c.id IS NULL
ORDER BY sc.snapshot_id LIMIT ?
"""
_COUNTS = """
SELECT s.id, s.chunk_count, (SELECT count(*) FROM snapshot_chunks sc
                             WHERE sc.snapshot_id = s.id) AS refs
FROM snapshots s WHERE s.chunk_count != refs ORDER BY s.id LIMIT ?
"""


@dataclass(frozen=True)
class Problem:
    kind: str  # "missing", "digest", "size", "dangling", "count"
    detail: str
    chunk_id: bytes = b""
    snapshot: str = ""


@dataclass
class CheckReport:
    chunks: int = 0  # catalog rows checked
    blobs: int = 0  # blobs in the store
    snapshots: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    reclaimable: list[bytes] = field(default_factory=list)
    reclaimable_count: int = 0
    reclaimable_bytes: int = 0

    @property
    def agree(self) -> bool:
        return not self.problem_count

    def add(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < LISTED:
            self.problems.append(problem)


def check(catalog: Catalog, store: ChunkStore) -> CheckReport:
    """Compare ``catalog`` and ``store`` (module docstring); never raises for a finding."""
    report = CheckReport()
    _rows(catalog, store, report)
    _snapshots(catalog, report)
    _blobs(catalog, store, report)
    return report


def _rows(catalog: Catalog, store: ChunkStore, report: CheckReport) -> None:
    for cid, size, digest in catalog.iter_chunks():
        try:
            data = store.get(cid)
        except NotFound:
            if catalog.has_chunk(cid):
                report.chunks += 1
                report.add(Problem("missing", f"chunk {cid.hex()}: recorded in the catalog, "
                                   "no blob in the store", cid))
            continue
        report.chunks += 1
        computed = blob_digest(data)
        if computed != digest:
            report.add(Problem("digest", f"chunk {cid.hex()}: blob hashes to "
                               f"{computed.hex()[:16]}…, recorded {digest.hex()[:16]}…", cid))
        elif len(data) != size:
            report.add(Problem("size", f"chunk {cid.hex()}: blob has {len(data)} bytes, "
                               f"recorded {size}", cid))


def _snapshots(catalog: Catalog, report: CheckReport) -> None:
    db = sqlite3.connect(f"file:{catalog.path}?mode=ro", uri=True, isolation_level=None)
    try:
        db.execute("BEGIN")
        (report.snapshots,) = db.execute("SELECT count(*) FROM snapshots").fetchone()
        (dangling,) = db.execute(
            "SELECT count(*) FROM snapshot_chunks sc LEFT JOIN chunks c ON c.id = sc.chunk_id"
            " WHERE c.id IS NULL").fetchone()
        for sid, cid in db.execute(_DANGLING, (LISTED,)):
            report.add(Problem("dangling", f"snapshot {sid} references chunk {bytes(cid).hex()}"
                               ", which the catalog does not record", bytes(cid), sid))
        report.problem_count += max(0, dangling - min(dangling, LISTED))
        for sid, count, refs in db.execute(_COUNTS, (LISTED,)):
            report.add(Problem("count", f"snapshot {sid}: chunk_count {count}, but it "
                               f"references {refs} chunks", snapshot=sid))
        db.execute("ROLLBACK")
    finally:
        db.close()


def _blobs(catalog: Catalog, store: ChunkStore, report: CheckReport) -> None:
    batch: list[bytes] = []

    def flush() -> None:
        for cid in catalog.missing_chunks(batch):
            try:
                size = store.size(cid)
            except NotFound:
                continue  # pruned meanwhile
            report.reclaimable_count += 1
            report.reclaimable_bytes += size
            if len(report.reclaimable) < LISTED:
                report.reclaimable.append(cid)
        batch.clear()

    for cid in store.iter_ids():
        report.blobs += 1
        batch.append(cid)
        if len(batch) >= BATCH:
            flush()
    flush()
