"""The catalog check's node_chunks pass: ``node_chunks`` must be ``snapshot_chunks`` counted
per (node, chunk); a count off, a row missing and a stray row are each one "node-refs"
problem naming the node and the chunk. (The store passes are tested against a real vaultd in
tests/e2e/test_check.py.)"""

from __future__ import annotations

import os
import sqlite3

from bulwark.vault.catalog.check import check
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.store.base import blob_digest
from bulwark.vault.store.memory import MemoryStore


def record(sid: str, time_ns: int, node: str) -> SnapshotRecord:
    return SnapshotRecord(id=sid, time_ns=time_ns, node=node, header=b"h" + sid.encode(),
                          signature=b"s" * 64, tags=(), paths=("/d",), files=1, bytes=1,
                          chunk_count=3)


def test_check_names_every_node_chunks_row_that_disagrees_with_the_references(tmp_path):
    store, catalog = MemoryStore(), Catalog(tmp_path / "catalog.sqlite")
    try:
        blobs = [os.urandom(40) for _ in range(4)]
        ids = [os.urandom(32) for _ in blobs]
        pairs = list(zip(ids, blobs, strict=True))
        store.put_many([(c, b, blob_digest(b)) for c, b in pairs])
        catalog.record_chunks([(c, len(b), blob_digest(b)) for c, b in pairs])
        catalog.commit_snapshot(record("a1" * 32, 1, "n1"), ids[:3])
        catalog.commit_snapshot(record("a2" * 32, 2, "n1"), ids[1:])
        catalog.commit_snapshot(record("b1" * 32, 3, "n2"), ids[:3])
        assert check(catalog, store).agree

        db = sqlite3.connect(catalog.path)  # what a bookkeeping bug would leave
        db.execute("UPDATE node_chunks SET refs = 1 WHERE node = 'n1' AND chunk_id = ?", (ids[1],))
        db.execute("DELETE FROM node_chunks WHERE node = 'n2' AND chunk_id = ?", (ids[0],))
        db.execute("INSERT INTO node_chunks VALUES ('n2', ?, 1)", (ids[3],))
        db.commit()
        db.close()
        report = check(catalog, store)
    finally:
        catalog.close()
    assert not report.agree and report.problem_count == 3
    found = {(p.kind, p.chunk_id) for p in report.problems}
    assert found == {("node-refs", ids[1]), ("node-refs", ids[0]), ("node-refs", ids[3])}
    details = sorted(p.detail for p in report.problems)
    assert details == sorted([
        f"node n1: 2 snapshot(s) reference chunk {ids[1].hex()}, node_chunks counts 1",
        f"node n2: 1 snapshot(s) reference chunk {ids[0].hex()}, node_chunks counts 0",
        f"node n2: 0 snapshot(s) reference chunk {ids[3].hex()}, node_chunks counts 1",
    ])
