"""Clean-up on a real radosgw (issue 17): index compaction after a prune and the removal of
start-up probes whose lock has passed. Locks of 3 s stand in for the upload lease and the
probe's hour, so the test waits seconds, not hours."""

from __future__ import annotations

import sqlite3
import time

from bulwark.vault.store.s3 import PROBE, S3ChunkStore
from bulwark.vault.store.s3_compact import compact_index
from bulwark.vault.store.s3_records import INDEX, BucketCatalog, BucketRecords, rebuild_catalog
from tests.vault.conftest import make_blob
from tests.vault.store.test_s3 import settings

LOCK_NS = 3 * 10**9


def keys(store: S3ChunkStore, prefix: str) -> list[str]:
    return sorted(k for k, _ in store.list_keys(prefix))


def rows(path, query: str) -> list[tuple]:
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute(query).fetchall())
    finally:
        db.close()


def test_compaction_replaces_superseded_index_objects_and_old_probes_go(rgw_cluster, tmp_path):
    store = S3ChunkStore(settings(rgw_cluster, rgw_cluster.make_bucket(), tmp_path),
                         put_lock_ns=LOCK_NS, check=False)
    store.probe_lock_ns = LOCK_NS
    store.check_bucket()
    records = BucketRecords(store, audit_days=1)
    catalog = BucketCatalog(tmp_path / "catalog.sqlite", store, records)
    blobs = [make_blob(100 + i) for i in range(12)]
    for i in range(0, 12, 3):  # four PutChunks messages from two nodes
        store.put_many(blobs[i : i + 3])
        catalog.record_chunks([(c, len(d), g) for c, d, g in blobs[i : i + 3]],
                              uploader=f"gpu-{i % 2}")
    old = keys(store, INDEX)
    assert len(old) == 4
    assert compact_index(catalog, records).written == 0  # every index object still locked

    time.sleep(LOCK_NS / 1e9 + 2.5)  # past the locks and their margin
    gone = blobs[0][0]
    assert catalog.forget_chunks([gone], time.time_ns()) == [(gone, 100)]
    store.delete(gone)
    report = compact_index(catalog, records)
    assert (report.written, report.deleted, report.refused) == (2, 4, 0)  # per uploader
    assert not set(keys(store, INDEX)) & set(old)
    assert compact_index(catalog, records).written == 0  # the new ones are locked: no churn

    rebuilt = rebuild_catalog(store, tmp_path / "rebuilt.sqlite")
    assert (rebuilt.chunks, rebuilt.hashed) == (11, 0)  # every row from the compacted index
    query = "SELECT c.id, c.size, c.digest, u.node FROM chunks c JOIN chunk_uploads u" \
            " ON u.chunk_id = c.id"
    assert rows(tmp_path / "rebuilt.sqlite", query) == rows(catalog.path, query)

    first_probe = keys(store, PROBE)
    assert len(first_probe) == 1
    store.check_bucket()  # a later start: its own probe stays, the expired one goes
    assert store.probes_removed == 1
    assert len(keys(store, PROBE)) == 1 and keys(store, PROBE) != first_probe
    catalog.close()
    store.close()
