"""Air-gap figures (docs/airgap.md): pull throughput against the backup path's own, in the
same run; the time to seed an air-gap vault with ~1 GB; the bytes re-sent when a window is
cut at 50 %.

Everything runs inside a network namespace this script creates (root and ``ip`` needed), so
the loopback byte counters it reads (``/proc/net/dev`` of that namespace) count only this
benchmark's traffic, not whatever else the machine runs::

    python -m bench.airgap [--scale 1] [--seed-mb 1024] [--repeats 2] [--out FILE.md]

Per repeat: a primary site (``vaultctl init``) and an air-gap site (``vaultctl init
--airgap``) with vaultd on loopback over mTLS. Backup MB/s = source bytes / backup wall time
(vault-agent); pull MB/s = blob bytes copied / window wall time (``airgap sync --now``), and
source bytes / window time for the same comparison. Seed: a fresh air-gap vault pulls a
snapshot of ``--seed-mb`` MB of random data (incompressible: ~that many bytes stored). Cut:
a fresh air-gap vault with a bandwidth limit set so the checkpoint takes about two windows;
re-sent = loopback bytes of the cut window plus the resuming one, minus those of an uncut
pull of the same snapshot.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

import tomli_w

from bench.workload import gen_checkpoint, gen_shards, tree_bytes

BIN = Path(sys.executable).parent
MB = 1e6
WINDOW_S = 4


class Namespace:
    def __init__(self, name: str) -> None:
        self.name = name
        subprocess.run(["ip", "netns", "add", name], check=True)
        self.run("ip", "link", "set", "lo", "up")

    def cmd(self, *args: object) -> list[str]:
        return ["ip", "netns", "exec", self.name, *map(str, args)]

    def run(self, *args: object) -> subprocess.CompletedProcess:
        proc = subprocess.run(self.cmd(*args), capture_output=True, text=True)
        if proc.returncode not in (0, 1):
            raise RuntimeError(f"{args[:3]}: exit {proc.returncode}: {proc.stderr[-2000:]}")
        return proc

    def lo_bytes(self) -> int:
        for line in self.run("cat", "/proc/net/dev").stdout.splitlines():
            if line.strip().startswith("lo:"):
                return int(line.split(":")[1].split()[0])
        raise RuntimeError("no lo in /proc/net/dev")

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.name], check=False)


class Vaultd:
    def __init__(self, ns: Namespace, directory: Path) -> None:
        port_file = directory / "port"
        port_file.unlink(missing_ok=True)
        self.proc = subprocess.Popen(ns.cmd(BIN / "vaultd", "--config", directory / "vault.toml",
                                            "--port-file", port_file),
                                     stdout=subprocess.DEVNULL,
                                     stderr=open(directory / "vaultd.log", "ab"))
        for _ in range(300):
            if port_file.exists():
                return
            time.sleep(0.1)
        log = (directory / "vaultd.log").read_text()[-2000:]
        raise RuntimeError(f"vaultd for {directory} did not start: {log}")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def free_port(ns: Namespace) -> int:
    out = ns.run(sys.executable, "-c", "import socket; s=socket.socket(); s.bind(('127.0.0.1',0));"
                 " print(s.getsockname()[1])").stdout
    return int(out)


def airgap_site(ns: Namespace, primary: Path, directory: Path, name: str, **airgap) -> Path:
    pki = primary / "pki"
    ns.run(BIN / "vaultctl", "pki", "issue", primary, "--role", "replica", "--name", name)
    port = free_port(ns)
    primary_port = tomllib.loads((primary / "vault.toml").read_text())["server"]["listen"]
    init = ns.run(BIN / "vaultctl", "init", directory, "--airgap", "--port", port,
                  "--primary", primary_port, "--primary-ca", pki / "ca.crt",
                  "--tenant-key", primary / "tenant.key",
                  "--replica-cert", pki / f"replica-{name}.crt",
                  "--replica-key", pki / f"replica-{name}.key")
    assert init.returncode == 0, init.stderr
    doc = tomllib.loads((directory / "vault.toml").read_text())
    doc["airgap"]["window"] = [{"cron": "0 0 1 1 *", "duration": "1h"}]
    doc["airgap"].update(airgap)
    (directory / "vault.toml").write_text(tomli_w.dumps(doc))
    return directory


def backup(ns: Namespace, site: Path, path: Path) -> tuple[float, dict]:
    t = time.perf_counter()
    r = ns.run(BIN / "vault-agent", "--config", site / "agent.toml", "backup", path, "--json")
    assert r.returncode == 0, r.stderr
    return time.perf_counter() - t, json.loads(r.stdout)


def sync(ns: Namespace, site: Path, seconds: int = 3600) -> tuple[float, dict, int]:
    lo = ns.lo_bytes()
    t = time.perf_counter()
    r = ns.run(BIN / "vaultctl", "--config", site / "operator.toml", "airgap", "sync", "--now",
               "--seconds", seconds, "--json")
    elapsed = time.perf_counter() - t
    return elapsed, json.loads(r.stdout), ns.lo_bytes() - lo


def one_repeat(work: Path, data: dict[str, Path], seed_mb: int, n: int) -> dict:
    ns = Namespace(f"bwbench{os.getpid()}")
    out: dict = {}
    procs: list[Vaultd] = []
    try:
        primary = work / f"primary-{n}"
        ns.run(BIN / "vaultctl", "init", primary, "--port", free_port(ns))
        procs.append(Vaultd(ns, primary))
        ag = airgap_site(ns, primary, work / f"airgap-{n}", f"ag{n}")
        procs.append(Vaultd(ns, ag))
        for kind in ("checkpoint", "shards"):
            src_bytes = tree_bytes(data[kind])[1]
            b_s, b = backup(ns, primary, data[kind])
            p_s, w, lo = sync(ns, ag)
            assert w["outcome"] == "complete" and w["snapshots"] == 1, w
            out[kind] = {"source_mb": src_bytes / MB, "backup_s": b_s,
                         "backup_mb_s": src_bytes / MB / b_s, "stored_mb": w["bytes"] / MB,
                         "pull_s": p_s, "pull_stored_mb_s": w["bytes"] / MB / p_s,
                         "pull_source_mb_s": src_bytes / MB / p_s, "wire_mb": lo / MB,
                         "snapshot": b["snapshot"]}
        # seed: a fresh air-gap vault pulls ~seed_mb MB of incompressible data
        b_s, b = backup(ns, primary, data["seed"])
        seed = airgap_site(ns, primary, work / f"seed-{n}", f"seed{n}")
        procs.append(Vaultd(ns, seed))
        s_s, w, _ = sync(ns, seed)
        assert w["outcome"] == "complete", w
        out["seed"] = {"backup_s": b_s, "pull_s": s_s, "stored_mb": w["bytes"] / MB,
                       "snapshots": w["snapshots"]}
        # cut at 50 %: a primary holding only the checkpoint, pulled at a limit that needs
        # about two windows of WINDOW_S seconds; the same pull uncut is the baseline
        solo = work / f"solo-{n}"
        ns.run(BIN / "vaultctl", "init", solo, "--port", free_port(ns))
        procs.append(Vaultd(ns, solo))
        backup(ns, solo, data["checkpoint"])
        limit = max(1, int(out["checkpoint"]["stored_mb"] * MB / (2 * WINDOW_S) / (1 << 20)))
        full_dir = airgap_site(ns, solo, work / f"full-{n}", f"full{n}", max_mib_per_s=limit)
        cut_dir = airgap_site(ns, solo, work / f"cut-{n}", f"cut{n}", max_mib_per_s=limit)
        procs.append(Vaultd(ns, full_dir))
        _, full, lo_full = sync(ns, full_dir)
        procs.append(Vaultd(ns, cut_dir))
        _, first, lo1 = sync(ns, cut_dir, WINDOW_S)
        _, rest, lo2 = sync(ns, cut_dir)
        out["cut"] = {"limit_mib_s": limit, "window_s": WINDOW_S,
                      "first": {"outcome": first["outcome"], "mb": first["bytes"] / MB},
                      "rest": {"outcome": rest["outcome"], "mb": rest["bytes"] / MB},
                      "blob_mb_pulled_twice":
                          (first["bytes"] + rest["bytes"] - full["bytes"]) / MB,
                      "wire_full_mb": lo_full / MB, "wire_cut_mb": (lo1 + lo2) / MB,
                      "wire_resent_mb": (lo1 + lo2 - lo_full) / MB,
                      "total_mb": full["bytes"] / MB}
    finally:
        for p in reversed(procs):
            p.stop()
        ns.close()
    return out


def seed_data(root: Path, mb: int) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    left, i = mb * 1_000_000, 0
    while left > 0:
        n = min(left, 128_000_000)
        (root / f"part{i:02d}.bin").write_bytes(os.urandom(n))
        left, i = left - n, i + 1
    return root


def span(values: list[float]) -> str:
    lo, hi = min(values), max(values)
    return f"{lo:.1f}" if abs(hi - lo) < 0.05 else f"{lo:.1f}–{hi:.1f}"


def report(runs: list[dict], meta: dict) -> str:
    lines = [f"# Air-gap figures ({meta['commit']}, scale {meta['scale']}, {len(runs)} repeats)",
             "", f"{meta['cpus']} CPUs, load {meta['load']}; both vaultd, the agent and "
             "vaultctl on the same cores, loopback mTLS inside one network namespace.", "",
             "| data | source MB | backup MB/s (source) | pull MB/s (stored blobs) | "
             "pull MB/s (source) | pull ÷ backup |", "|---|---|---|---|---|---|"]
    for kind in ("checkpoint", "shards"):
        rs = [r[kind] for r in runs]
        ratio = [r["pull_source_mb_s"] / r["backup_mb_s"] for r in rs]
        lines.append(f"| {kind} | {span([r['source_mb'] for r in rs])} | "
                     f"{span([r['backup_mb_s'] for r in rs])} | "
                     f"{span([r['pull_stored_mb_s'] for r in rs])} | "
                     f"{span([r['pull_source_mb_s'] for r in rs])} | {span(ratio)}× |")
    seeds = [r["seed"] for r in runs]
    lines += ["", f"Seed (a new air-gap vault copies everything the primary holds): "
              f"{span([s['stored_mb'] for s in seeds])} MB of blobs, {seeds[0]['snapshots']} "
              f"snapshots, in {span([s['pull_s'] for s in seeds])} s "
              f"({span([s['stored_mb'] / s['pull_s'] for s in seeds])} MB/s)."]
    cuts = [r["cut"] for r in runs]
    lines += ["", f"Cut at ~50 % ({cuts[0]['limit_mib_s']} MiB/s limit, {cuts[0]['window_s']} s "
              f"window, {span([c['total_mb'] for c in cuts])} MB of blobs): first window "
              f"{span([c['first']['mb'] for c in cuts])} MB ({cuts[0]['first']['outcome']}), "
              f"resumed {span([c['rest']['mb'] for c in cuts])} MB; blob bytes pulled twice "
              f"{span([c['blob_mb_pulled_twice'] for c in cuts])} MB; loopback bytes of the two "
              f"windows minus an uncut pull {span([c['wire_resent_mb'] for c in cuts])} MB "
              f"(uncut {span([c['wire_full_mb'] for c in cuts])} MB on the wire)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.airgap", description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed-mb", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--out", type=Path)
    a = ap.parse_args(argv)
    work = a.workdir or Path(tempfile.mkdtemp(prefix="bulwark-airgap-bench-", dir="/var/tmp"))
    try:
        data = {"checkpoint": gen_checkpoint(work / "data" / "checkpoint", a.scale),
                "shards": gen_shards(work / "data" / "shards", a.scale),
                "seed": seed_data(work / "data" / "seed", a.seed_mb)}
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True).stdout.strip()  # the tree the run starts from
        runs = [one_repeat(work, data, a.seed_mb, n) for n in range(a.repeats)]
        meta = {"commit": commit, "scale": a.scale, "cpus": os.cpu_count(),
                "load": f"{os.getloadavg()[0]:.1f}"}
        text = report(runs, meta)
        print(text)
        if a.out:
            a.out.write_text(text)
            a.out.with_suffix(".json").write_text(json.dumps({"meta": meta, "runs": runs}))
    finally:
        subprocess.run(["chattr", "-R", "-i", str(work)], capture_output=True)
        if not a.workdir:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
