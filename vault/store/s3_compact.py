"""Index compaction for the S3 store (issue 17): index objects that no longer need to exist.

Every PutChunks message leaves one ``index/`` object (``vault.store.s3_records``), so a
vault that ran a year holds hundreds of thousands of small objects, most about chunks long
pruned, and a rebuild GETs every one. After a prune (``vault.worm.prune``) ``compact_index``:

1. picks the index objects written before it started whose own lock (the upload lease,
   ``[retention] lease_hours``, from their write time in the key) has passed — nothing else
   could be deleted anyway;
2. if there are any, writes the index of every chunk the catalog holds, ``ROWS`` rows per
   object, grouped by the uploader each is charged to (``chunk_uploads``), as new, locked
   index objects;
3. only then deletes every version of the picked objects (one the object store still
   refuses, a lease made longer since, stays for a later prune).

Safe in any order of failures: the new objects are complete before an old one goes, so a
crash leaves duplicates (a rebuild merges them), never a chunk without its index row; index
objects written during the compaction are newer than its start and untouched. What is lost
on purpose: rows of chunks the catalog no longer holds (pruned, or rowless blobs a later
prune removes); a rebuild hashes such a blob if it is still there. The rewritten index is
~72 bytes per chunk (7.2 MB at 100,000 chunks) per compaction, and the objects it replaces
are deleted at the next prune after their lease, so the bucket holds about two copies.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from bulwark.vault.errors import BlobLocked, NotFound, StorageError
from bulwark.vault.store.s3 import LOCK_MARGIN_NS
from bulwark.vault.store.s3_records import INDEX, BucketRecords

ROWS = 10_000  # index rows per compacted object (720 KB)


@dataclass
class CompactReport:
    written: int = 0  # new index objects
    deleted: int = 0  # superseded index objects removed
    refused: int = 0  # superseded, but the object store still locks them


def written_ns(key: str) -> int:
    """The write time in an ``index/<ns>-<hex>`` key; 0 if the key has another form."""
    name = key[len(INDEX):].split("-", 1)[0]
    return int(name) if name.isdigit() else 0


def _index_rows(catalog: Any) -> list[tuple[str, bytes, int, bytes]]:
    """``(uploader, id, size, digest)`` of every chunk of the catalog, by uploader."""
    db = sqlite3.connect(f"file:{catalog.path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute(
            "SELECT COALESCE(u.node, ''), c.id, c.size, c.digest FROM chunks c"
            " LEFT JOIN chunk_uploads u ON u.chunk_id = c.id ORDER BY 1, c.id").fetchall()
    except sqlite3.Error as exc:
        raise StorageError(f"catalog {catalog.path}: read the index rows: {exc}") from exc
    finally:
        db.close()
    return [(node, bytes(cid), size, bytes(digest)) for node, cid, size, digest in rows]


def compact_index(catalog: Any, records: BucketRecords) -> CompactReport:
    """Steps 1-3 of the module docstring for a ``BucketCatalog``; the report says what."""
    store = records.store
    report = CompactReport()
    start = store._wall()
    due = [k for k, _ in store.list_keys(INDEX)
           if written_ns(k) > 0 and written_ns(k) + store.put_lock_ns + LOCK_MARGIN_NS < start]
    if not due:
        return report
    for uploader, group in groupby(_index_rows(catalog), key=lambda r: r[0]):
        rows = [(cid, size, digest) for _, cid, size, digest in group]
        for i in range(0, len(rows), ROWS):
            records.put_index(rows[i : i + ROWS], uploader)
            report.written += 1
    for key in due:
        try:
            store.delete_versions(key, f"index object {key}")
            report.deleted += 1
        except BlobLocked:
            report.refused += 1
        except NotFound:
            pass
    return report
