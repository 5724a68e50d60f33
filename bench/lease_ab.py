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
figures are medians and ranges in milliseconds. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

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


def _spawn(copy: Path, old_code: Path | None) -> subprocess.Popen:
    env = dict(os.environ)
    if old_code is not None:
        env["PYTHONPATH"] = str(old_code)
    return subprocess.Popen([sys.executable, "-m", "bench.lease_ab", "--worker", str(copy)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.lease_ab", description=__doc__,
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
    work = Path(tempfile.mkdtemp(prefix="bulwark-lease-ab-"))
    try:
        sides = {}
        for name, code in (("old", a.old_code), ("new", None)):
            copy = work / f"{name}.sqlite"
            shutil.copyfile(a.catalog, copy)
            proc = _spawn(copy, code)
            sides[name] = (proc, int(proc.stdout.readline()))
        times: dict[str, list[float]] = {f"{s}_{k}": [] for s in sides
                                         for k in ("absent", "present")}
        loads = []
        for _ in range(a.rounds):
            for kind in ("absent", "present"):
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
