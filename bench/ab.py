"""Old code against new on copies of one grown catalog, calls interleaved so both sides see
the same machine load: the harness of ``bench.lease_ab`` and ``bench.commit_ab``.

Each side runs the calling module's ``--worker`` in its own process (the old one with the
old tree first on PYTHONPATH, as ``bench.scale --old-code`` runs vaultd) on its own copy of
the catalog (SQLite's backup API: a consistent copy, WAL content included). A worker prints
its catalog's chunk count, then answers each line of stdin (a kind of call) with the call's
milliseconds. Rounds alternate old, new, old, new... per kind; the result holds the median
and range of each side and kind, and the 1-minute load average over the rounds.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path


def _copy(src: Path, dst: Path) -> None:
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def _spawn(module: str, copy: Path, old_code: Path | None) -> subprocess.Popen:
    env = dict(os.environ)
    if old_code is not None:
        env["PYTHONPATH"] = str(old_code)
    return subprocess.Popen([sys.executable, "-m", module, "--worker", str(copy)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                            cwd=Path(__file__).resolve().parent.parent)


def interleave(module: str, catalog: Path, old_code: Path, kinds: Sequence[str], rounds: int,
               old_schema: Callable[[Path], None] | None = None) -> dict:
    """Run ``rounds`` rounds of every kind on both sides; ``old_schema(copy)`` first gives
    the old side's copy the schema the old code reads."""
    work = Path(tempfile.mkdtemp(prefix="bulwark-ab-"))
    sides: dict[str, tuple[subprocess.Popen, int]] = {}
    try:
        for name, code in (("old", old_code), ("new", None)):
            copy = work / f"{name}.sqlite"
            _copy(catalog, copy)
            if code is not None and old_schema is not None:
                old_schema(copy)
            proc = _spawn(module, copy, code)
            sides[name] = (proc, int(proc.stdout.readline()))
        times: dict[str, list[float]] = {f"{s}_{k}": [] for s in sides for k in kinds}
        loads = []
        for _ in range(rounds):
            for kind in kinds:
                for name, (proc, _) in sides.items():
                    proc.stdin.write(kind + "\n")
                    proc.stdin.flush()
                    times[f"{name}_{kind}"].append(float(proc.stdout.readline()))
            loads.append(round(os.getloadavg()[0], 2))
        for proc, _ in sides.values():
            proc.stdin.close()
            proc.wait(timeout=60)
    finally:
        for proc, _ in sides.values():
            if proc.poll() is None:
                proc.kill()
        shutil.rmtree(work, ignore_errors=True)
    return {"chunks": sides["new"][1], "rounds": rounds, "load_min_max": [min(loads),
            max(loads)], **{k: {"median": statistics.median(v), "min": min(v), "max": max(v)}
                            for k, v in times.items()}}


def main(module: str, doc: str, worker: Callable[[Path], None], kinds: Sequence[str],
         argv: list[str] | None = None,
         old_schema: Callable[[Path], None] | None = None) -> int:
    """The command line both benches share: ``CATALOG --old-code DIR [--rounds N] [--out F]``."""
    ap = argparse.ArgumentParser(prog=f"python -m {module}", description=doc,
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
    result = interleave(module, a.catalog, a.old_code, kinds, a.rounds, old_schema)
    print(json.dumps(result, indent=1))
    if a.out:
        a.out.write_text(json.dumps(result, indent=1))
    return 0
