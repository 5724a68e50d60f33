"""S3 store figures (issue 17) against a real single-node Ceph radosgw on loopback.

::

    python -m bench.s3 rebuild --chunks 10000 [--snapshots 10]
    python -m bench.s3 commit --chunks 10000
    python -m bench.s3 backup [--scale 1] [--workloads checkpoint,shards]

``rebuild``: a ``vaultctl init`` site on a fresh Object-Lock bucket, filled through the
vault's own write path (``open_store`` + ``BucketCatalog`` on the site's vault.toml: blobs,
index objects, snapshot records), N chunks of 4 KiB (the rebuild reads keys, index and
records, not blob bytes, so blob size does not matter) in PutChunks-sized batches of 64,
then ``--snapshots`` snapshots each referencing all of them (all in one lock step, so only
the first extends the chunk locks). Then a real ``vaultd --reindex --json`` rebuilds the
catalog and audit log from the bucket alone: its own ``duration_s`` and ``requests``, and
the process's peak RSS (``wait4``), at normal priority even under ``nice``; ``--repeat N``
reindexes N times over the same bucket. ``--rebuild-after FILE`` waits for FILE to exist
before the reindex (a long fill can run while the code the reindex runs is still changing).

``commit``: a snapshot referencing N existing chunks, then a second one referencing the same
chunks with an hour more retention, on a fresh vault with ``lock_step_days`` 1 (the default)
and on one with 0: seconds and requests of each commit.

``backup``: the same bench workloads backed up and restored through real vaultd processes,
one on the filesystem store and one on the S3 store, with the real CLIs; prints MB/s for
each and the S3 requests per GB stored (radosgw's own request counters, from ``radosgw-admin
usage`` is off in the test cluster, so the count is the vault's: its log line at stop).

Both start their own cluster (tests/lib/ceph_rgw.py) and remove it at the end. Nothing here
is part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bulwark.vault.catalog.db import SnapshotRecord, snapshot_id
from bulwark.vault.config import load_config
from bulwark.vault.store.base import blob_digest
from bulwark.vault.store.s3 import S3ChunkStore, S3Settings
from bulwark.vault.store.s3_open import open_store
from bulwark.vault.store.s3_records import BucketCatalog, BucketRecords
from bulwark.vault.worm.retention import DAY_NS, Retention
from tests.lib.ceph_rgw import ceph_rgw, use_s3_store

BIN = Path(sys.executable).parent

BATCH = 64


def _creds(rgw, folder: Path) -> Path:
    path = folder / "s3.credentials"
    path.write_text(f'access_key_id = "{rgw.access_key}"\n'
                    f'secret_access_key = "{rgw.secret_key}"\n')
    path.chmod(0o600)
    return path


def _commit(catalog: BucketCatalog, ids: list[bytes], node: str, until_ns: int) -> None:
    header, signature, now = os.urandom(200), os.urandom(64), time.time_ns()
    catalog.commit_snapshot(SnapshotRecord(
        id=snapshot_id(header, signature, now), time_ns=now, node=node, header=header,
        signature=signature, tags=(), paths=("/data",), files=1, bytes=len(ids) * 4096,
        chunk_count=len(ids), retention=Retention("governance", until_ns)), ids)


def _fill(store: S3ChunkStore, catalog: BucketCatalog, chunks: int) -> list[bytes]:
    """``chunks`` blobs of 4 KiB through the vault's write path, PutChunks-sized batches."""
    ids: list[bytes] = []
    started = time.monotonic()
    for i in range(0, chunks, BATCH):
        items = []
        for _ in range(min(BATCH, chunks - i)):
            data = os.urandom(4096)
            items.append((os.urandom(32), data, blob_digest(data)))
        store.put_many(items)
        catalog.record_chunks([(c, len(d), g) for c, d, g in items])
        ids.extend(c for c, _, _ in items)
        if len(ids) % 10_000 < BATCH:
            print(f"filled {len(ids)} chunks in {time.monotonic() - started:.0f} s "
                  f"(load {os.getloadavg()[0]:.1f})", file=sys.stderr, flush=True)
    return ids


def _vault(rgw, folder: Path) -> tuple[S3ChunkStore, BucketCatalog]:
    store = S3ChunkStore(S3Settings(rgw.endpoint, rgw.make_bucket(),
                                    credentials_file=_creds(rgw, folder)),
                         mode="governance", put_lock_ns=DAY_NS)
    return store, BucketCatalog(folder / "catalog.sqlite", store, BucketRecords(store))


def _reindex(folder: Path) -> dict:
    """``vaultd --reindex --json`` on the site, at normal priority even when the bench runs
    under ``nice`` (as root): its report and its peak RSS in MiB."""
    out = folder / "reindex.json"
    with open(out, "wb") as stdout, open(folder / "reindex.log", "wb") as stderr:
        proc = subprocess.Popen([BIN / "vaultd", "--config", folder / "vault.toml",
                                 "--reindex", "--json"], stdout=stdout, stderr=stderr,
                                preexec_fn=_normal_priority)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"vaultd --reindex: exit {proc.returncode}: "
                           f"{(folder / 'reindex.log').read_text()[-2000:]}")
    return {**json.loads(out.read_text()), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def _normal_priority() -> None:
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 0)
    except PermissionError:  # not root: keep the inherited niceness
        pass


def bench_rebuild(chunks: int, snapshots: int, after: Path | None = None,
                  repeat: int = 1) -> dict:
    with ceph_rgw(memstore_mib=4096) as rgw, tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "site"
        subprocess.run([BIN / "vaultctl", "init", folder], check=True, capture_output=True)
        use_s3_store(folder, rgw)
        config = load_config(folder / "vault.toml")
        config.catalog_path.parent.mkdir(parents=True, exist_ok=True)
        store = open_store(config)
        catalog = BucketCatalog(config.catalog_path, store, BucketRecords(store))
        started = time.monotonic()
        ids = _fill(store, catalog, chunks)
        fill_s = time.monotonic() - started
        started = time.monotonic()
        for n in range(snapshots):  # one lock step: only the first commit extends locks
            _commit(catalog, ids, f"node-{n}", time.time_ns() + 2 * DAY_NS)
        commit_s = time.monotonic() - started
        catalog.close()
        store.close()
        while after is not None and not after.exists():
            time.sleep(5)
        runs = []
        for _ in range(repeat):  # each reindex rebuilds from the bucket; the old kept aside
            load = os.getloadavg()[0]
            report = _reindex(folder)
            runs.append({"rebuild_s": report["duration_s"],
                         "rebuild_requests": report["requests"],
                         "vaultd_peak_rss_mib": report["peak_rss_mib"],
                         "load_avg_1m_before": round(load, 1)})
        return {"chunks": chunks, "snapshots": snapshots, "fill_s": round(fill_s, 1),
                "commit_s": round(commit_s, 1), "runs": runs,
                "restored_snapshots": report["snapshots"], "restored_chunks": report["chunks"],
                "skipped": report["skipped"]}


def bench_commit(chunks: int) -> dict:
    """One snapshot referencing ``chunks`` existing chunks, committed an hour of retention
    after a first one, on a vault with lock steps (``lock_step_days = 1``, the default) and
    on one without (0: every commit extends every chunk lock, the cost before lock steps
    existed); each vault fresh. Seconds and requests of each commit."""
    result: dict = {"chunks": chunks}
    with ceph_rgw(memstore_mib=2048) as rgw:
        for step_days in (1, 0):
            with tempfile.TemporaryDirectory() as tmp:
                store, catalog = _vault(rgw, Path(tmp))
                store.lock_step_ns = step_days * DAY_NS
                ids = _fill(store, catalog, chunks)
                until = time.time_ns() + 2 * DAY_NS
                for n, what in enumerate(("first", "second")):
                    started, before = time.monotonic(), store.requests
                    _commit(catalog, ids, f"node-{n}", until + n * 3_600 * 10**9)
                    label = f"lock_step_days_{step_days}_{what}_commit"
                    result[f"{label}_s"] = round(time.monotonic() - started, 2)
                    result[f"{label}_requests"] = store.requests - before
                catalog.close()
                store.close()
    result["load_avg_1m"] = round(os.getloadavg()[0], 1)
    return result


def main(argv: list[str] | None = None) -> int:
    # SIGTERM ends the run through the context managers: the cluster stops, folders go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(prog="python -m bench.s3", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("rebuild")
    p.add_argument("--chunks", type=int, default=10_000)
    p.add_argument("--snapshots", type=int, default=10)
    p.add_argument("--rebuild-after", type=Path, default=None,
                   help="wait for this file to exist before the reindex")
    p.add_argument("--repeat", type=int, default=1, help="reindex this many times")
    c = sub.add_parser("commit")
    c.add_argument("--chunks", type=int, default=10_000)
    b = sub.add_parser("backup")
    b.add_argument("--scale", type=float, default=1.0)
    b.add_argument("--workloads", default="checkpoint,shards")
    args = parser.parse_args(argv)
    if args.cmd == "rebuild":
        print(json.dumps(bench_rebuild(args.chunks, args.snapshots, args.rebuild_after,
                                       args.repeat)))
        return 0
    if args.cmd == "commit":
        print(json.dumps(bench_commit(args.chunks)))
        return 0
    from bench.s3_backup import bench_backup

    print(json.dumps(bench_backup(args.scale, args.workloads.split(",")), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

