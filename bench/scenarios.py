"""Optional bench scenarios (issue #6): memory on one large file, memory on many
small files, many nodes backing up at once. Bulwark only, through its real CLIs on
a default site (`vaultctl init`, mTLS on), like bench/run.py; not part of the tests.

    python -m bench.scenarios memory [--size-gib 4]
    python -m bench.scenarios files  [--counts 20000,200000]
    python -m bench.scenarios nodes  [--nodes 8] [--mb-per-node 40] [--shared]

memory  one bf16 safetensors file: back up, back up unchanged, restore, compare
        SHA-256 (streamed); peak RSS of vault-agent / vaultctl restore (GNU time)
        and of vaultd (VmHWM, reset per phase). Target: each < 300 MiB.
files   N files of 1-4 KiB for each N: back up, back up unchanged, restore,
        compare; growth of peak RSS per 100k files between the smallest and the
        largest N. Target: at most gentle (< 50 MiB per 100k files and every peak
        < 300 MiB).
nodes   one vaultd, N node identities (`vaultctl pki issue`), N agents started
        together, each on its own data; aggregate MB/s (all source bytes / first
        start to last finish) vs one agent alone on a fresh site; every snapshot
        restored with operator.toml and compared. Target: aggregate >= single, no
        errors, all restorable.

Results: bench/results/<date>-<scenario>.json and .md (or --out), with the load
average at each phase, the machine and `git describe --dirty`.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import run as br
from bench import scenario_data as sd

HERE = Path(__file__).resolve().parent
TARGET_MIB = 300
GENTLE_MIB_PER_100K = 50
MB = 1e6


# ---------------------------------------------------------------------------
# one default site, measured phase by phase


class Site(br.Bulwark):
    """`vaultctl init` + vaultd (bench.run.Bulwark) plus node identities and
    restores of any snapshot with operator.toml."""

    def __init__(self, work: Path):
        work.mkdir(parents=True, exist_ok=True)
        super().__init__(work)

    def issue_node(self, name: str) -> Path:
        r = br.run([self.exe["vaultctl"], "pki", "issue", str(self.dir), "--role", "node",
                    "--name", name, "--json"], env=self.env, timeout=120).check()
        return Path(br.last_json(r.stdout)["config"])

    def restore_id(self, snapshot: str, target: Path) -> tuple[br.Run, dict]:
        self.snapshot = snapshot
        return self.restore(target)


def _load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def measure(site: Site, phase: str, fn, files: int, size: int, **extra) -> dict:
    """Run one phase (``fn`` returns (Run, report)); wall, MB/s, peak RSS of the
    client process and of vaultd, CPU, load average."""
    site.phase_start()
    load0 = _load()
    r, rep = fn()
    vd = site.phase_end()
    row = {"phase": phase, "files": files, "bytes": size, "wall_s": round(r.wall_s, 3),
           "mb_s": round(size / MB / r.wall_s, 2) if r.wall_s > 0 else None,
           "files_s": round(files / r.wall_s, 1) if r.wall_s > 0 else None,
           "client_rss_kb": r.maxrss_kb, "client_cpu_s": round(r.cpu_user_s + r.cpu_sys_s, 2),
           **vd, "loadavg_before": load0, "loadavg_after": _load(), **extra,
           "report": {k: v for k, v in rep.items() if k not in ("skipped", "failed")}}
    print(f"  {phase:10} {files:>8} files {size / MB:9.1f} MB {r.wall_s:8.2f}s "
          f"{row['mb_s'] or 0:7.1f} MB/s  client {r.maxrss_kb / 1024:.0f} MiB  "
          f"vaultd {vd.get('vaultd_rss_kb', 0) / 1024:.0f} MiB  load {load0[0]}", flush=True)
    return row


def restore_and_verify(site: Site, src: Path, work: Path, files: int, size: int,
                       expected: dict[str, str], snapshot: str | None = None) -> dict:
    target = work / "restore"
    br.remove_tree(target)
    target.mkdir(parents=True)
    row = measure(site, "restore", (lambda: site.restore_id(snapshot, target)) if snapshot
                  else (lambda: site.restore(target)), files, size)
    problem = br.verify_restore(expected, target / src.relative_to("/"))
    row["verified"] = problem is None
    if problem:
        row["verify_error"] = problem
        print(f"!!! RESTORE MISMATCH: {problem}", file=sys.stderr)
    br.remove_tree(target)
    return row


def hashes(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (streamed, file by file)."""
    out = {}
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = Path(dirpath, n)
            out[str(p.relative_to(root))] = br.file_hash(p)
    return out


# ---------------------------------------------------------------------------
# scenarios


def scenario_memory(work: Path, a) -> list[dict]:
    size = int(a.size_gib * 1024 ** 3)
    free = shutil.disk_usage(work).free
    if free < 3 * size:
        raise SystemExit(f"error: {work} has {free / 1e9:.1f} GB free; the memory scenario "
                         f"needs 3x the file size ({3 * size / 1e9:.1f} GB: source, store, "
                         "restore). Use --workdir elsewhere or a smaller --size-gib.")
    src = work / "src"
    t = time.monotonic()
    real = sd.big_safetensors(src / "model.safetensors", size)
    gen_s = time.monotonic() - t
    expected = hashes(src)
    print(f"memory: generated {real / 1e9:.2f} GB in {gen_s:.1f}s", flush=True)
    site = Site(work / "site")
    rows: list[dict] = []
    try:
        site.setup()
        rows.append(measure(site, "first", lambda: site.backup(src, "big-first"), 1, real))
        rows.append(measure(site, "unchanged", lambda: site.backup(src, "big-again"), 1, real))
        rows.append(restore_and_verify(site, src, work, 1, real, expected))
    except br.BenchError as e:
        rows.append({"phase": "error", "error": str(e)[-4000:]})
    finally:
        info = site.close()
        br.remove_tree(src)  # the big file goes as soon as it is no longer needed
        for r in rows:
            r["size_label"] = f"{a.size_gib:g} GiB"
        rows.append({"phase": "vaultd-total", **info})
    return rows


def scenario_files(work: Path, a) -> list[dict]:
    rows: list[dict] = []
    for n in sorted(int(c) for c in a.counts.split(",")):
        run_dir = work / f"files-{n}"
        src = run_dir / "src"
        t = time.monotonic()
        files, size = sd.many_files(src, n)
        expected = hashes(src)
        print(f"files {n}: generated {size / MB:.0f} MB in {time.monotonic() - t:.1f}s",
              flush=True)
        site = Site(run_dir / "site")
        sel: list[dict] = []
        try:
            site.setup()
            def backup(site=site, src=src):
                return site.backup(src, "files")

            sel.append(measure(site, "first", backup, files, size))
            sel.append(measure(site, "unchanged", backup, files, size))
            sel.append(restore_and_verify(site, src, run_dir, files, size, expected))
        except br.BenchError as e:
            sel.append({"phase": "error", "error": str(e)[-4000:]})
        finally:
            info = site.close()
            sel.append({"phase": "vaultd-total", **info})
            for r in sel:
                r["count"] = n
            rows += sel
            br.remove_tree(run_dir)
    return rows


def _spawn_all(jobs: list[tuple[str, list[str]]], env: dict, work: Path,
               timeout: float) -> list[dict]:
    """Start every job at once (each under GNU time when available); wait for all,
    at most ``timeout`` seconds. Per job: start/end offsets, rc, peak RSS, output."""
    procs = []
    t0 = time.perf_counter()
    for name, argv in jobs:
        tf = work / f"{name}.time"
        out, err = open(work / f"{name}.out", "wb"), open(work / f"{name}.err", "wb")
        full = [br.GNU_TIME, "-q", "-o", str(tf), "-f", "%M %U %S", *argv] \
            if br.RSS_METHOD == "gnu-time" else argv
        p = subprocess.Popen(full, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        procs.append({"name": name, "p": p, "start": time.perf_counter() - t0, "tf": tf,
                      "out": out, "err": err})
    deadline = t0 + timeout
    pending = list(procs)
    while pending:
        for j in list(pending):
            pid, status, ru = os.wait4(j["p"].pid, os.WNOHANG)
            if pid:
                j["end"] = time.perf_counter() - t0
                j["rc"] = os.waitstatus_to_exitcode(status)
                j["rss_kb"] = ru.ru_maxrss
                pending.remove(j)
        if pending and time.perf_counter() > deadline:
            for j in pending:
                j["p"].kill()
                os.wait4(j["p"].pid, 0)
                j["end"], j["rc"], j["rss_kb"] = time.perf_counter() - t0, -9, 0
            break
        time.sleep(0.005)
    res = []
    for j in procs:
        j["out"].close()
        j["err"].close()
        if br.RSS_METHOD == "gnu-time":
            try:
                j["rss_kb"] = int(j["tf"].read_text().split()[0])
            except (OSError, IndexError, ValueError):
                pass
        stdout = (work / f"{j['name']}.out").read_text(errors="replace")
        stderr = (work / f"{j['name']}.err").read_text(errors="replace")
        res.append({"name": j["name"], "start_s": round(j["start"], 3), "end_s": round(j["end"], 3),
                    "rc": j["rc"], "rss_kb": j["rss_kb"], "report": br.last_json(stdout),
                    "stderr_tail": stderr[-1500:] if j["rc"] != 0 else ""})
    return res


def scenario_nodes(work: Path, a) -> list[dict]:
    n, per = a.nodes, int(a.mb_per_node * MB)
    data = work / "data"
    sets = []
    t = time.monotonic()
    for i in range(n):
        if a.shared and i > 0:  # --shared: every node holds node 0's files (a base model)
            sets.append(sets[0])
            continue
        files, size = sd.node_set(data / f"node{i}", i, per)
        sets.append((data / f"node{i}", files, size, hashes(data / f"node{i}")))
    total = sum(s[2] for s in sets)
    print(f"nodes: generated {n} sets, {total / MB:.0f} MB in {time.monotonic() - t:.1f}s",
          flush=True)
    rows: list[dict] = []

    # one agent alone, on a fresh site, on the first set
    site = Site(work / "single")
    try:
        site.setup()
        src, files, size, _ = sets[0]
        row = measure(site, "single", lambda: site.backup(src, "node-single"), files, size)
        rows.append({**row, "agents": 1, "errors": 0})
    except br.BenchError as e:
        rows.append({"phase": "single", "agents": 1, "errors": 1, "error": str(e)[-4000:]})
    finally:
        site.close()
        br.remove_tree(work / "single")

    # N agents at once against one vaultd
    site = Site(work / "multi")
    try:
        site.setup()
        cfgs = [site.issue_node(f"node{i}") for i in range(n)]
        jobs = [(f"node{i}", [site.exe["vault-agent"], "--config", str(cfgs[i]), "backup",
                              str(sets[i][0]), "--tag", f"node{i}", "--json"]) for i in range(n)]
        site.phase_start()
        load0 = _load()
        agents = _spawn_all(jobs, site.env, work, timeout=a.timeout)
        vd = site.phase_end()
        wall = max(j["end_s"] for j in agents) - min(j["start_s"] for j in agents)
        errors = [j for j in agents if j["rc"] != 0 or not j["report"].get("snapshot")
                  or j["report"].get("skipped")]
        row = {"phase": "concurrent", "agents": n, "files": sum(s[1] for s in sets),
               "bytes": total, "wall_s": round(wall, 3), "mb_s": round(total / MB / wall, 2),
               "client_rss_kb": max(j["rss_kb"] for j in agents), **vd,
               # blobs only: the store folder also holds the catalog and the audit reserve
               "shared": bool(a.shared), "stored_bytes": br.tree_size(site.store / "data"),
               "loadavg_before": load0, "loadavg_after": _load(), "errors": len(errors),
               "per_agent": agents}
        print(f"  stored {row['stored_bytes'] / MB:.1f} MB for {total / MB:.1f} MB of sources "
              f"({'the same files on every node' if a.shared else 'no file shared'})",
              flush=True)
        print(f"  concurrent {n} agents {total / MB:.0f} MB {wall:.2f}s "
              f"{row['mb_s']:.1f} MB/s  errors {len(errors)}  "
              f"vaultd {vd.get('vaultd_rss_kb', 0) / 1024:.0f} MiB", flush=True)
        rows.append(row)
        restored = []
        for i, j in enumerate(agents):
            snap = j["report"].get("snapshot")
            if not snap:
                restored.append({"phase": "restore", "node": j["name"], "verified": False,
                                 "error": "no snapshot"})
                continue
            src, files, size, expected = sets[i]
            try:
                rr = restore_and_verify(site, src, work, files, size, expected, snapshot=snap)
            except br.BenchError as e:
                rr = {"phase": "restore", "verified": False, "error": str(e)[-2000:]}
            restored.append({**rr, "node": j["name"]})
        rows += restored
        log = (site.work / "vaultd.log").read_text(errors="replace")
        bad = [ln for ln in log.splitlines()  # vaultd logs bare messages, no level
               if re.search(r"error|traceback|exception|denied|refus|fail", ln, re.I)]
        rows.append({"phase": "vaultd-log", "lines": len(log.splitlines()),
                     "traceback_or_error_lines": len(bad), "examples": bad[:5]})
    except br.BenchError as e:
        rows.append({"phase": "error", "error": str(e)[-4000:]})
    finally:
        rows.append({"phase": "vaultd-total", **site.close()})
    return rows


SCENARIOS = {"memory": scenario_memory, "files": scenario_files, "nodes": scenario_nodes}


# ---------------------------------------------------------------------------
# report


def _m(kb) -> str:
    return f"{kb / 1024:.0f}" if kb else "–"


def _ok(flag: bool) -> str:
    return "**met**" if flag else "**missed**"


def _header(meta: dict) -> list[str]:
    m = meta["machine"]
    return [f"# Bulwark bench scenario `{meta['scenario']}` — {meta['date']}", "",
            f"{m['nproc']} CPUs ({m['cpu']}), {m['mem_gb']} GB RAM, load average (1/5/15 min) "
            f"{' / '.join(map(str, meta['loadavg_start']))} at start, "
            f"{' / '.join(map(str, meta['loadavg_end']))} at end; git {meta['git']}; "
            f"{meta['version']}; peak RSS via {meta['rss_method']}", "",
            f"Settings: {json.dumps(meta['args'])}", "",
            "MB = 10^6 bytes, MiB = 2^20 bytes. client = `vault-agent backup` or "
            "`vaultctl restore` (operator.toml); vaultd RSS = VmHWM, reset before each "
            "phase. load = 1-minute load average when the phase started.", ""]


def _phase_table(rows: list[dict], lead: str) -> list[str]:
    out = [f"| {lead} | phase | wall s | MB/s | files/s | client peak RSS MiB | "
           "vaultd peak RSS MiB | client CPU s | load | verified |",
           "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["phase"] not in ("first", "unchanged", "restore"):
            continue
        fs = f"{r['files_s']:.0f}" if r["files"] > 1 else "–"
        lead_cell = r.get("size_label") or r.get("count")
        out.append(f"| {lead_cell} | {r['phase']} | {r['wall_s']:.2f} | "
                   f"{r['mb_s']:.1f} | {fs} | {_m(r['client_rss_kb'])} | "
                   f"{_m(r.get('vaultd_rss_kb'))} | {r['client_cpu_s']:.1f} | "
                   f"{r['loadavg_before'][0]} | "
                   f"{'–' if 'verified' not in r else ('yes' if r['verified'] else '**NO**')} |")
    return out


def _failures(rows: list[dict]) -> list[str]:
    errs = [r for r in rows if r.get("error")]
    return (["", "Failures:", ""] + [f"- {r['phase']}: {r['error'].strip().splitlines()[0]}"
                                     for r in errs]) if errs else []


def verdict(scenario: str, rows: list[dict]) -> tuple[bool, list[str]]:
    ph = [r for r in rows if r["phase"] in ("first", "unchanged", "restore")]
    failed = any(r.get("error") for r in rows) or any(r.get("verified") is False for r in ph)
    if scenario == "memory":
        peak_c = max((r["client_rss_kb"] for r in ph), default=0)
        peak_v = max((r.get("vaultd_rss_kb", 0) for r in ph), default=0)
        ok = bool(ph) and not failed and peak_c < TARGET_MIB * 1024 and peak_v < TARGET_MIB * 1024
        return ok, [f"Target each < {TARGET_MIB} MiB: agent/restore peak {_m(peak_c)} MiB, "
                    f"vaultd peak {_m(peak_v)} MiB, restore byte-identical: "
                    f"{'yes' if not failed else 'NO'} → {_ok(ok)}"]
    if scenario == "files":
        counts = sorted({r["count"] for r in ph})
        lines, ok = [], bool(ph) and not failed and len(counts) >= 2
        for who, key in (("client", "client_rss_kb"), ("vaultd", "vaultd_rss_kb")):
            for phase in ("first", "unchanged", "restore"):
                by = {r["count"]: r.get(key, 0) for r in ph if r["phase"] == phase}
                if len(by) < 2:
                    continue
                lo, hi = counts[0], counts[-1]
                per = (by[hi] - by[lo]) / 1024 / (hi - lo) * 100_000
                good = per < GENTLE_MIB_PER_100K and by[hi] < TARGET_MIB * 1024
                ok = ok and good
                lines.append(f"- {who} {phase}: {_m(by[lo])} MiB at {lo} files → {_m(by[hi])} "
                             f"MiB at {hi} files = {per:+.1f} MiB per 100k files")
        return ok, [f"Target: growth at most gentle (< {GENTLE_MIB_PER_100K} MiB per 100k "
                    f"files, every peak < {TARGET_MIB} MiB), all restores byte-identical "
                    f"→ {_ok(ok)}", ""] + lines
    single = next((r for r in rows if r["phase"] == "single"), {})
    multi = next((r for r in rows if r["phase"] == "concurrent"), {})
    rest = [r for r in rows if r["phase"] == "restore"]
    log = next((r for r in rows if r["phase"] == "vaultd-log"), {})
    faster = bool(single.get("mb_s") and multi.get("mb_s") and multi["mb_s"] >= single["mb_s"])
    clean = (not failed and single.get("errors") == 0 and multi.get("errors") == 0
             and not log.get("traceback_or_error_lines"))
    all_ok = (bool(rest) and len(rest) == multi.get("agents")
              and all(r.get("verified") for r in rest))
    ok = faster and clean and all_ok
    ratio = multi["mb_s"] / single["mb_s"] if single.get("mb_s") and multi.get("mb_s") else 0
    stored = ([f"Stored: {multi['stored_bytes'] / MB:.1f} MB in the vault for "
               f"{multi['bytes'] / MB:.1f} MB of sources on {multi['agents']} nodes "
               f"({'every node holds the same files' if multi.get('shared') else 'no file shared'})"
               ".", ""] if multi.get("stored_bytes") else [])
    return ok, stored + [f"Aggregate ≥ single: {multi.get('mb_s', '–')} vs "
                f"{single.get('mb_s', '–')} MB/s "
                f"(×{ratio:.2f}) → {_ok(faster)}; errors: {multi.get('errors', '?')} agent, "
                f"{log.get('traceback_or_error_lines', '?')} vaultd log lines → {_ok(clean)}; "
                f"restored byte-identical: {sum(1 for r in rest if r.get('verified'))}/"
                f"{multi.get('agents', '?')} → {_ok(all_ok)}"]


def report(meta: dict, rows: list[dict]) -> str:
    sc = meta["scenario"]
    out = _header(meta)
    if sc in ("memory", "files"):
        out += _phase_table(rows, "size" if sc == "memory" else "files")
    else:
        out += ["| run | agents | MB | wall s | aggregate MB/s | max agent peak RSS MiB | "
                "vaultd peak RSS MiB | errors | load |", "|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if r["phase"] in ("single", "concurrent") and "wall_s" in r:
                out.append(f"| {r['phase']} | {r['agents']} | {r['bytes'] / MB:.1f} | "
                           f"{r['wall_s']:.2f} | {r['mb_s']:.1f} | {_m(r['client_rss_kb'])} | "
                           f"{_m(r.get('vaultd_rss_kb'))} | {r['errors']} | "
                           f"{r['loadavg_before'][0]} |")
        rest = [r for r in rows if r["phase"] == "restore" and "wall_s" in r]
        if rest:
            out += ["", "| restore (operator.toml) | MB | wall s | MB/s | vaultctl peak RSS MiB | "
                    "vaultd peak RSS MiB | load | verified |", "|---|---|---|---|---|---|---|---|"]
            for r in rest:
                out.append(f"| {r['node']} | {r['bytes'] / MB:.1f} | {r['wall_s']:.2f} | "
                           f"{r['mb_s']:.1f} | {_m(r['client_rss_kb'])} | "
                           f"{_m(r.get('vaultd_rss_kb'))} | {r['loadavg_before'][0]} | "
                           f"{'yes' if r.get('verified') else '**NO**'} |")
    _ok, lines = verdict(sc, rows)
    out += ["", "## Target", ""] + lines + _failures(rows)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scenarios",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("scenario", nargs="?", choices=sorted(SCENARIOS))
    ap.add_argument("--size-gib", type=float, default=4.0, help="memory: file size (GiB)")
    ap.add_argument("--counts", default="20000,200000", help="files: file counts, comma-separated")
    ap.add_argument("--nodes", type=int, default=8, help="nodes: agents backing up at once")
    ap.add_argument("--mb-per-node", type=float, default=40.0, help="nodes: data per node (MB)")
    ap.add_argument("--shared", action="store_true",
                    help="nodes: every node backs up the same files (a base model on every "
                         "node); the stored bytes show deduplication across nodes")
    ap.add_argument("--timeout", type=float, default=3600.0,
                    help="nodes: seconds the concurrent agents may take in all")
    ap.add_argument("--out", type=Path, default=None,
                    help="result JSON (default bench/results/<date>-<scenario>.json); "
                         "the Markdown table goes next to it")
    ap.add_argument("--workdir", type=Path, default=None,
                    help="data, site and restores (default: a temp dir, removed at the end)")
    ap.add_argument("--report", type=Path, metavar="RESULT.json",
                    help="only re-render the Markdown of an earlier result")
    a = ap.parse_args(argv)
    if a.report:
        res = json.loads(a.report.read_text())
        md = report(res["meta"], res["rows"])
        a.report.with_suffix(".md").write_text(md)
        print(md)
        return 0
    if not a.scenario:
        ap.error(f"name a scenario: {', '.join(sorted(SCENARIOS))}")
    why = br.Bulwark.available()
    if why:
        print(f"error: Bulwark CLIs unusable: {why}", file=sys.stderr)
        return 2
    out = a.out or HERE / "results" / f"{br.result_stem()}-{a.scenario}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    root = a.workdir or Path(tempfile.mkdtemp(prefix=f"bulwark-{a.scenario}-"))
    root.mkdir(parents=True, exist_ok=True)
    git = br.run(["git", "-C", str(br.REPO_ROOT), "describe", "--always", "--dirty"]).stdout.strip()
    dirty = br.run(["git", "-C", str(br.REPO_ROOT), "status", "--short", "--untracked-files=no"])
    meta = {"scenario": a.scenario, "date": _dt.datetime.now().isoformat(timespec="seconds"),
            "args": {k: v for k, v in vars(a).items() if k in {
                "memory": ("size_gib",), "files": ("counts",),
                "nodes": ("nodes", "mb_per_node")}[a.scenario]},
            "machine": br.machine_facts(), "git": git,
            "git_uncommitted": dirty.stdout.strip().splitlines(),
            "version": br.Bulwark(root / "probe").version(), "rss_method": br.RSS_METHOD,
            "workdir": str(root), "loadavg_start": _load()}
    print(f"scenario {a.scenario}: work dir {root}, load {meta['loadavg_start']}", flush=True)
    rows: list[dict] = []
    t0 = time.monotonic()
    try:
        rows = SCENARIOS[a.scenario](root, a)
    finally:
        meta["elapsed_s"] = round(time.monotonic() - t0, 1)
        meta["loadavg_end"] = _load()
        out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
        md = report(meta, rows) if rows else "no result\n"
        out.with_suffix(".md").write_text(md)
        print()
        print(md)
        print(f"results: {out} and {out.with_suffix('.md')} ({meta['elapsed_s']} s)")
        if not a.workdir:
            br.remove_tree(root)
    ok, _ = verdict(a.scenario, rows) if rows else (False, [])
    failed = any(r.get("error") or r.get("verified") is False for r in rows)
    return 1 if failed else (0 if ok else 3)


if __name__ == "__main__":
    sys.exit(main())
