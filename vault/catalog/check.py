"""Do the catalog and the chunk store agree? (``bulwark.v1.Check``, ``vaultctl check``)

Read-only: nothing is recorded or deleted. Three passes, each over what is there now:

1. every catalog row: its blob exists, hashes to the recorded digest and has the recorded
   size (re-read and re-hashed, like scrub, but without recording damage);
2. every snapshot: each chunk it references has a catalog row, and it references as many
   chunks as its ``chunk_count`` says; and ``node_chunks`` is exactly ``snapshot_chunks``
   counted per (node, chunk) (vault.catalog.db keeps it so; the signals' new-chunk share and
   GetChunks' node isolation read it);
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
_NODE_REFS = """
WITH truth AS (SELECT s.node, sc.chunk_id, count(*) AS refs FROM snapshot_chunks sc
               JOIN snapshots s ON s.id = sc.snapshot_id GROUP BY s.node, sc.chunk_id)
SELECT t.node, t.chunk_id, t.refs, n.refs FROM truth t
LEFT JOIN node_chunks n ON n.node = t.node AND n.chunk_id = t.chunk_id
WHERE n.refs IS NOT t.refs
UNION ALL
SELECT n.node, n.chunk_id, 0, n.refs FROM node_chunks n
WHERE NOT EXISTS (SELECT 1 FROM snapshot_chunks sc JOIN snapshots s ON s.id = sc.snapshot_id
                  WHERE sc.chunk_id = n.chunk_id AND s.node = n.node)
"""


@dataclass(frozen=True)
class Problem:
    kind: str  # "missing", "digest", "size", "dangling", "count", "node-refs"
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
        for node, cid, refs, counted in db.execute(_NODE_REFS):
            report.add(Problem("node-refs", f"node {node}: {refs} snapshot(s) reference chunk "
                               f"{bytes(cid).hex()}, node_chunks counts {counted or 0}",
                               bytes(cid)))
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
