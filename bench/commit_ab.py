"""A commit's catalog work, old code against new, on copies of one grown catalog, calls
interleaved so both sides see the same machine load (issue 20: the signals' new-chunk share).

    python -m bench.commit_ab CATALOG --old-code DIR [--rounds 15] [--out FILE.json]

CATALOG is a ``catalog.sqlite`` grown by ``python -m bench.scale --keep`` (this code: it has
``node_chunks``). The old side's copy is given the schema before migration ``node-chunks``
back (table dropped, migration record removed), so a vaultd from ``DIR`` (put first on
PYTHONPATH, as ``bench.scale --old-code`` runs vaultd) opens it. Each side runs in its own
process on its own copy and makes, one call at a time, the catalog work of CommitSnapshot:
``Catalog.new_chunk_count`` (the signals' share of chunks new to the node) then
``Catalog.commit_snapshot``, for the bench node, either for ``small`` (10 new chunks plus the
chunk every bench.scale snapshot shares, as the growth commits) or ``held`` (4,096 chunks
the catalog holds). WAL, ``synchronous=FULL``, as vaultd. Rounds alternate old, new, old,
new...; figures are medians and ranges in milliseconds. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELD = 4096


def worker(path: Path) -> None:
    """Answer ``small``/``held`` lines on stdin with the commit's catalog milliseconds."""
    from bulwark.vault.catalog.db import Catalog, SnapshotRecord

    db = sqlite3.connect(path)
    chunk_ids = [bytes(r[0]) for r in db.execute("SELECT id FROM chunks")]
    (node,) = db.execute("SELECT node FROM snapshots LIMIT 1").fetchone()
    (shared,) = db.execute("SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id ="
                           " (SELECT id FROM snapshots ORDER BY time_ns LIMIT 1)"
                           " INTERSECT SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id ="
                           " (SELECT id FROM snapshots ORDER BY time_ns DESC LIMIT 1)").fetchone()
    db.close()
    catalog = Catalog(path)
    rng = random.Random(os.getpid())
    print(len(chunk_ids), flush=True)
    for n, line in enumerate(sys.stdin):
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


def _spawn(copy: Path, old_code: Path | None) -> subprocess.Popen:
    env = dict(os.environ)
    if old_code is not None:
        env["PYTHONPATH"] = str(old_code)
    return subprocess.Popen([sys.executable, "-m", "bench.commit_ab", "--worker", str(copy)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.commit_ab", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("catalog", type=Path)
    ap.add_argument("--old-code", type=Path)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    if a.worker:
        worker(a.catalog)
        return 0
    if a.old_code is None:
        ap.error("--old-code is required")
    work = Path(tempfile.mkdtemp(prefix="bulwark-commit-ab-", dir=a.catalog.parent))
    try:
        sides = {}
        for name, code in (("old", a.old_code), ("new", None)):
            copy = work / f"{name}.sqlite"
            src = sqlite3.connect(f"file:{a.catalog}?mode=ro", uri=True)
            dst = sqlite3.connect(copy)
            src.backup(dst)  # a consistent copy, WAL content included
            src.close()
            dst.close()
            if code is not None:
                _old_schema(copy)
            proc = _spawn(copy, code)
            sides[name] = (proc, int(proc.stdout.readline()))
        times: dict[str, list[float]] = {f"{s}_{k}": [] for s in sides for k in ("small", "held")}
        loads = []
        for _ in range(a.rounds):
            for kind in ("small", "held"):
                for name, (proc, _) in sides.items():
                    proc.stdin.write(kind + "\n")
                    proc.stdin.flush()
                    times[f"{name}_{kind}"].append(float(proc.stdout.readline()))
            loads.append(round(os.getloadavg()[0], 2))
        for proc, _ in sides.values():
            proc.stdin.close()
            proc.wait(timeout=60)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result = {"chunks": sides["new"][1], "rounds": a.rounds, "load_min_max": [min(loads),
              max(loads)], **{k: {"median": statistics.median(v), "min": min(v),
                                  "max": max(v)} for k, v in times.items()}}
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
