"""FindMissing's catalog work, old code against new, on copies of one grown catalog, calls
interleaved so both sides see the same machine load (issue 20: present-id leases).

    python -m bench.lease_ab CATALOG --old-code DIR [--rounds 15] [--out FILE.json]

CATALOG is a ``catalog.sqlite`` grown by ``python -m bench.scale --old-code DIR`` (the old
schema: the new code migrates its own copy, the old code would refuse a migrated one). Each
side runs in its own process (the old one with ``DIR`` first on PYTHONPATH, as
``bench.scale --old-code`` runs vaultd) on its own copy, and answers one call at a time:
``Catalog.missing_chunks`` of 4,096 ids with a 24-hour lease, as vaultd's FindMissing
makes it (WAL, ``synchronous=FULL``), either all absent (fresh random ids) or all present
(a random sample of the catalog's chunks). Rounds alternate old, new, old, new...; the
figures are medians and ranges in milliseconds (the harness: ``bench.ab``). Not part of the
test suite.
"""

from __future__ import annotations

import os
import random
import sys
import time
from pathlib import Path

from bench import ab

IDS = 4096
LEASE_NS = 24 * 3_600_000_000_000


def worker(path: Path) -> None:
    """Answer ``absent``/``present`` lines on stdin with the call's milliseconds."""
    import sqlite3

    from bulwark.vault.catalog.db import Catalog

    db = sqlite3.connect(path)
    chunk_ids = [bytes(r[0]) for r in db.execute("SELECT id FROM chunks")]
    db.close()
    catalog = Catalog(path)
    rng = random.Random(os.getpid())
    print(len(chunk_ids), flush=True)
    for line in sys.stdin:
        ids = (rng.sample(chunk_ids, IDS) if line.strip() == "present"
               else [rng.randbytes(32) for _ in range(IDS)])
        t = time.perf_counter()
        catalog.missing_chunks(ids, lease_until_ns=time.time_ns() + LEASE_NS)
        print(round((time.perf_counter() - t) * 1000, 2), flush=True)
    catalog.close()


def main(argv: list[str] | None = None) -> int:
    return ab.main("bench.lease_ab", __doc__, worker, ("absent", "present"), argv)


if __name__ == "__main__":
    raise SystemExit(main())
