"""A commit's catalog work and one batch of prune's deletes, old code against new, on copies
of one grown catalog, calls interleaved so both see the same machine load (issue 20).

    python -m bench.commit_ab CATALOG --old-code DIR [--rounds 15] [--out FILE.json]

CATALOG is a ``catalog.sqlite`` grown by ``python -m bench.scale --keep`` (this code: it has
``node_chunks``). The old side's copy is given the schema before migration ``node-chunks``
back (table dropped, migration record removed), so a vaultd from ``DIR`` (put first on
PYTHONPATH, as ``bench.scale --old-code`` runs vaultd) opens it. Each side runs in its own
process on its own copy and makes, one call at a time, the catalog work of CommitSnapshot:
``Catalog.new_chunk_count`` (the signals' share of chunks new to the node) then
``Catalog.commit_snapshot``, for the bench node, either for ``small`` (10 new chunks plus the
chunk every bench.scale snapshot shares, as the growth commits) or ``held`` (4,096 chunks
the catalog holds); and ``forget``: ``Catalog.forget_chunks`` of 500 ids the catalog holds
at the current time, prune's delete step for one batch (with bench.scale's 30-day retention
they are locked, so it deletes only chunks no snapshot references yet: those of growth jobs
not committed when the copy was taken). WAL, ``synchronous=FULL``, as vaultd. Rounds
alternate old, new, old, new...; figures are medians and ranges in milliseconds (the
harness: ``bench.ab``). Not part of the test suite.
"""

from __future__ import annotations

import os
import random
import sqlite3
import sys
import time
from pathlib import Path

from bench import ab

HELD = 4096
FORGET = 500  # vault.worm.prune.BATCH
KINDS = ("small", "held", "forget")


def worker(path: Path) -> None:
    """Answer ``small``/``held`` lines on stdin with the commit's catalog milliseconds."""
    from bulwark.vault.catalog.db import Catalog, SnapshotRecord

    db = sqlite3.connect(path)
    chunk_ids = [bytes(r[0]) for r in db.execute("SELECT id FROM chunks")]
    (node,) = db.execute("SELECT node FROM snapshots LIMIT 1").fetchone()
    (shared,) = db.execute(  # of the first snapshot's chunks, the one most snapshots share
        "SELECT chunk_id FROM snapshot_chunks sc WHERE snapshot_id ="
        " (SELECT id FROM snapshots ORDER BY time_ns LIMIT 1) ORDER BY"
        " (SELECT count(*) FROM snapshot_chunks o WHERE o.chunk_id = sc.chunk_id) DESC"
        " LIMIT 1").fetchone()
    db.close()
    catalog = Catalog(path)
    rng = random.Random(os.getpid())
    print(len(chunk_ids), flush=True)
    for n, line in enumerate(sys.stdin):
        if line.strip() == "forget":  # prune's delete step for one batch (its lock held)
            t = time.perf_counter()
            catalog.forget_chunks(rng.sample(chunk_ids, FORGET), time.time_ns())
            print(round((time.perf_counter() - t) * 1000, 2), flush=True)
            continue
        if line.strip() == "small":
            ids = [rng.randbytes(32) for _ in range(10)]
            catalog.record_chunks([(c, 64, c) for c in ids])
            ids.append(bytes(shared))
        else:
            ids = rng.sample(chunk_ids, HELD)
        record = SnapshotRecord(
            id=f"{os.getpid():08x}{n:056x}", time_ns=time.time_ns(), node=node,
            header=b"ab", signature=b"s" * 64, tags=(), paths=("/ab",), files=len(ids),
            bytes=64 * len(ids), chunk_count=len(ids))
        t = time.perf_counter()
        catalog.new_chunk_count(node, ids)
        catalog.commit_snapshot(record, ids)
        print(round((time.perf_counter() - t) * 1000, 2), flush=True)
    catalog.close()


def _old_schema(copy: Path) -> None:
    db = sqlite3.connect(copy)
    db.execute("DROP TABLE IF EXISTS node_chunks")
    db.execute("DELETE FROM catalog_migrations WHERE name = 'node-chunks'")
    db.commit()
    db.close()


def main(argv: list[str] | None = None) -> int:
    return ab.main("bench.commit_ab", __doc__, worker, KINDS, argv, _old_schema)


if __name__ == "__main__":
    raise SystemExit(main())
