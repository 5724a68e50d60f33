"""``python -m bench.s3 backup``: backup and restore MB/s on the filesystem store vs the S3
store (a real radosgw on loopback), and radosgw's request count per GB stored.

For each workload (bench.workload, state v1 only), on a fresh site per store: one
``vault-agent backup`` and one ``vaultctl restore`` through a real vaultd over mTLS, timed
end to end by the CLIs' own ``duration_s``. Requests are radosgw's own ``perf dump``
counters (every S3 request it served during the backup), so they include the start-up
checks, index and record objects and lock extensions.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.workload import generate, states, tree_bytes
from tests.lib.ceph_rgw import CephRGW, ceph_rgw, free_port, use_s3_store

BIN = Path(sys.executable).parent


def _rgw_requests(rgw: CephRGW) -> int:
    for _ in range(5):
        proc = subprocess.run(["ceph", "-c", str(rgw.conf), "--admin-daemon",
                               str(rgw.root / "run" / "radosgw.asok"), "perf", "dump"],
                              capture_output=True, text=True)
        if proc.returncode == 0:
            return int(json.loads(proc.stdout)["rgw"]["req"])
        time.sleep(1)
    raise RuntimeError(f"radosgw perf dump: exit {proc.returncode}: {proc.stderr[-500:]}")


def _run(*cmd: object) -> dict:
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd}: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _site(folder: Path, store: str, rgw: CephRGW) -> tuple[Path, subprocess.Popen]:
    port = free_port()
    subprocess.run([BIN / "vaultctl", "init", folder, "--port", str(port)], check=True,
                   capture_output=True)
    if store == "s3":
        use_s3_store(folder, rgw)
    log = open(folder / "vaultd.log", "wb")
    proc = subprocess.Popen([BIN / "vaultd", "--config", folder / "vault.toml"],
                            stdout=log, stderr=log)
    for _ in range(300):
        result = subprocess.run([BIN / "vaultctl", "--config", folder / "operator.toml",
                                 "snapshots", "--json"], capture_output=True)
        if result.returncode == 0:
            return folder, proc
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"vaultd ({store}) did not start: "
                       f"{(folder / 'vaultd.log').read_text()[-2000:]}")


def bench_backup(scale: float, workloads: list[str]) -> list[dict]:
    rows = []
    with ceph_rgw(memstore_mib=6144) as rgw, tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for kind in workloads:
            generate(root / "data", kind, scale)
            source = dict(states(root / "data", kind))["v1"]
            size = tree_bytes(source)[1]
            for store in ("fs", "s3"):
                folder, proc = _site(root / f"{kind}-{store}", store, rgw)
                try:
                    before = _rgw_requests(rgw)
                    backup = _run(BIN / "vault-agent", "--config", folder / "agent.toml",
                                  "backup", source, "--json")
                    requests = _rgw_requests(rgw) - before
                    target = root / f"restore-{kind}-{store}"
                    restore = _run(BIN / "vaultctl", "--config", folder / "operator.toml",
                                   "restore", backup["snapshot"], target, "--json")
                    restore_requests = _rgw_requests(rgw) - before - requests
                    shutil.rmtree(target)
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                    subprocess.run(["chattr", "-R", "-i", str(folder)], capture_output=True)
                stored_gb = backup["new_bytes"] / 1e9
                rows.append({
                    "workload": kind, "store": store, "bytes": size,
                    "backup_s": backup["duration_s"], "restore_s": restore["duration_s"],
                    "backup_MBps": round(size / 1e6 / backup["duration_s"], 1),
                    "restore_MBps": round(size / 1e6 / restore["duration_s"], 1),
                    "new_chunks": backup["new_chunks"], "stored_bytes": backup["new_bytes"],
                    "backup_requests": requests if store == "s3" else None,
                    "requests_per_GB_stored": round(requests / stored_gb) if store == "s3"
                    else None,
                    "restore_requests": restore_requests if store == "s3" else None,
                })
                print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    return rows
