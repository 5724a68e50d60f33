"""The operator's toolbox on a large snapshot: ``vaultctl ls``, ``find`` and ``diff`` timed
on a many-file tree (200,000 files by default), with each command's peak RSS.

    python -m bench.toolbox [--files 200000] [--workdir DIR] [--keep] [--out FILE.md]

One default site (``vaultctl init``, mTLS on, vaultd on loopback). Snapshot 1 backs up the
tree (bench.scenario_data.many_files: 1-4 KiB files, 100 per folder); then 1 % of the files
are rewritten, 0.5 % removed and 0.5 % added, and snapshot 2 backs it up again. Measured,
each as one process (wall time and peak RSS from wait4, as bench.run measures every tool):

- ``ls --recursive --json`` of snapshot 2 (every entry, the whole manifest decoded);
- ``ls --long`` of one leaf folder (stops reading after that folder's subtree);
- ``find '*000.bin'`` over both snapshots (two manifests, one after the other);
- ``diff --json`` of snapshot 1 and 2 (both manifests merged side by side).

Each command fetches and decrypts its manifests on the client, as restore does. Not part of
the test suite; the numbers go in the closing note of the work that changes these commands.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import tempfile
import time
from pathlib import Path

from bench import run as br
from bench import scenario_data as sd
from bench.scenarios import Site

HERE = Path(__file__).resolve().parent


def mutate(src: Path, n: int, seed: int = 19) -> dict[str, int]:
    """Rewrite 1 %, remove 0.5 % and add 0.5 % of the ``n`` files (deterministic)."""
    rng = random.Random(seed)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    picks = rng.sample(files, max(1, n // 50))
    half = len(picks) // 2
    for p in picks[:half]:
        p.write_bytes(rng.randbytes(rng.randint(1024, 4096)))
    for p in picks[half: half + half // 2]:
        p.unlink()
    for k in range(half // 2):
        (src / "added").mkdir(exist_ok=True)
        (src / "added" / f"n{k:06d}.txt").write_bytes(rng.randbytes(2048))
    return {"rewritten": half, "removed": half // 2, "added": half // 2}


def timed(site: Site, label: str, *args: str) -> dict:
    argv = [site.exe["vaultctl"], "--config", str(site.dir / "operator.toml"), *args]
    r = br.run(argv, env=site.env, timeout=3600).check()
    row = {"command": label, "wall_s": round(r.wall_s, 2), "rss_mib": round(r.maxrss_kb / 1024),
           "cpu_s": round(r.cpu_user_s + r.cpu_sys_s, 2), "stdout_bytes": len(r.stdout)}
    print(f"  {label:40} {row['wall_s']:7.2f} s  {row['rss_mib']:5d} MiB  "
          f"cpu {row['cpu_s']:.2f} s", flush=True)
    return row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.toolbox", description=__doc__)
    ap.add_argument("--files", type=int, default=200_000)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="bulwark-toolbox-", dir=a.workdir))
    site = Site(work / "site")
    rows: list[dict] = []
    try:
        src = work / "src"
        t = time.monotonic()
        files, size = sd.many_files(src, a.files)
        print(f"generated {files} files, {size / 1e6:.0f} MB in {time.monotonic() - t:.0f} s")
        site.setup()
        r1, rep1 = site.backup(src, "toolbox")
        changes = mutate(src, files)
        r2, rep2 = site.backup(src, "toolbox")
        print(f"backups: {r1.wall_s:.0f} s, {r2.wall_s:.0f} s; changes {changes}")
        s1, s2 = rep1["snapshot"], rep2["snapshot"]
        leaf = src / "d00" / "e07"
        rows.append(timed(site, "ls --recursive --json (all entries)", "ls", s2, str(src),
                          "--recursive", "--json"))
        rows.append(timed(site, "ls --long (one folder of 100)", "ls", s2, str(leaf),
                          "--long"))
        rows.append(timed(site, "find '*000.bin' (2 snapshots)", "find", "*000.bin",
                          "--json"))
        rows.append(timed(site, "diff --json", "diff", s1, s2, "--json"))
        meta = {"files": files, "bytes": size, "changes": changes,
                "commit": br.run(["git", "-C", str(HERE.parent), "describe", "--always",
                                  "--dirty"]).stdout.strip(),
                "cpus": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()]}
        text = report(meta, rows)
        print(text)
        if a.out:
            a.out.write_text(text)
            a.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}))
    finally:
        site.close()
        if a.keep:
            print(f"kept {work}")
        else:
            br.remove_tree(work)
            shutil.rmtree(work, ignore_errors=True)
    return 0


def report(meta: dict, rows: list[dict]) -> str:
    out = [f"# vaultctl ls / find / diff on {meta['files']:,} files ({meta['commit']})", "",
           f"{meta['cpus']} CPUs, vaultd on the same machine (mTLS loopback); snapshot 2 = "
           f"snapshot 1 with {meta['changes']}; load after: {meta['loadavg']}.", "",
           "| command | wall s | peak RSS MiB | CPU s | stdout bytes |", "|---|---|---|---|---|"]
    out += [f"| `{r['command']}` | {r['wall_s']} | {r['rss_mib']} | {r['cpu_s']} | "
            f"{r['stdout_bytes']:,} |" for r in rows]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
