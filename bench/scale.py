"""The vault's own work as it grows (issue 20, "Scale"): a real vaultd (``vaultctl init``,
mTLS on loopback) grown through its real API to many chunks and snapshots, step by step,
with the vault's per-size costs measured at every step.

    python -m bench.scale [--steps 10000:1000,100000:10000,300000:30000,1000000:100000]
                          [--workdir DIR] [--keep] [--out FILE.md] [--old-code DIR]

Growth: one node (agent.toml's identity and write-only key) seals tiny chunks (a 16-byte
counter plus 48 seeded bytes, real format-v2 blobs: compressed, encrypted, content
addressed), puts them with PutChunks and commits snapshots of them with CommitSnapshot,
each with a real signed header (requested retention 30 days) referencing its own new chunks
and one chunk every snapshot shares. Four streams at a time. ``--steps CHUNKS:SNAPSHOTS,...``
are the sizes at which it stops and measures:

- FindMissing of 4,096 ids, all absent (fresh random ids) and all present (a random sample
  of stored ids): median of 5 calls, one message each, as the agent sends them;
- commit: median of 5 commits of a snapshot of 10 new chunks, and of one referencing 4,096
  chunks the vault already holds (a large, mostly deduplicated snapshot);
- listing: ``bulwark.v1.Snapshots/QuerySnapshots`` streamed to the end, and the old unary
  ``Vault/ListSnapshots`` (its reply is one message under ``max_message_bytes``: where it
  fails, the error is recorded);
- prune: 10 snapshots of 10 chunks each are committed with 0 days retention first, so the
  dry run finds them and the real prune deletes them and their chunks;
- scrub: the vault re-reads and re-hashes every blob;
- vaultd peak RSS (VmHWM, reset at each step) and catalog bytes (``catalog.sqlite`` with its
  WAL) per chunk, read before the prune.

vault.toml: ``[retention] default_days = 0, minimum_days = 0, lease_hours = 0`` (what the
test commits with 0 days expires at once, and nothing it put stays leased) and ``[limits]
snapshots_per_hour = 0``; everything else as ``vaultctl init`` writes it. ``--old-code DIR``
runs vaultd from another checkout's tree (``DIR/bulwark/{vault,agent,protos}``, put first on
PYTHONPATH): the same driver measuring an earlier vault, for before/after figures.
Results: ``bench/results/<commit>-scale.md`` and ``.json`` (or ``--out``), each figure with
the load average when it was taken. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import tempfile
import threading
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tomli_w

from bench import run as br
from bench.scenarios import Site
from bulwark.agent.client.admin import AdminClient
from bulwark.agent.client.snapshots import SnapshotFilter, query_snapshots
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import VaultError
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.crypto import (
    chunk_ids_digest,
    public_signing_key,
    seal_root,
    sign_header,
)
from bulwark.agent.format.snapshot import SnapshotHeader, encode_header
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from bulwark.protos.bulwark.v1 import snapshots_pb2, snapshots_pb2_grpc

HERE = Path(__file__).resolve().parent
STEPS = "10000:1000,100000:10000,300000:30000,1000000:100000"
STREAMS = 4  # concurrent growth streams (the vault admits 8 calls per caller)
JOB = 50  # snapshots per growth job
PUT_BATCH = 1000  # blobs per PutChunks message
REPEATS = 5
PROGRESS = 2000  # snapshots between two points of the growth curve


def _load() -> float:
    return round(os.getloadavg()[0], 2)


class ScaleSite(Site):
    """A default site whose vault.toml lets the bench grow it fast and prune at once."""

    def __init__(self, work: Path, old_code: Path | None) -> None:
        super().__init__(work)
        if old_code is not None:
            self.env["PYTHONPATH"] = str(old_code)

    def setup(self) -> None:
        br.run([self.exe["vaultctl"], "init", str(self.dir), "--port", str(br.free_port())],
               env=self.env).check()
        path = self.dir / "vault.toml"
        cfg = tomllib.loads(path.read_text())
        cfg.setdefault("retention", {}).update(default_days=0, minimum_days=0, lease_hours=0)
        cfg.setdefault("limits", {})["snapshots_per_hour"] = 0
        path.write_text(tomli_w.dumps(cfg))
        port_file = self.work / "vaultd.port"
        self.log = open(self.work / "vaultd.log", "wb")
        self.proc = subprocess.Popen(
            [self.exe["vaultd"], "--config", str(path), "--port-file", str(port_file)],
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env)
        for _ in range(600):  # bounded: 60 s
            if self.proc.poll() is not None:
                raise br.BenchError(f"vaultd exited {self.proc.returncode}: {self._log_tail()}")
            if port_file.exists() and port_file.read_text().strip():
                return
            time.sleep(0.1)
        raise br.BenchError("vaultd did not come up within 60 s:\n" + self._log_tail())

    def catalog_bytes(self) -> int:
        """The catalog's used pages (WAL content included, free pages not), read-only."""
        db = sqlite3.connect(f"file:{self.store / 'catalog.sqlite'}?mode=ro", uri=True)
        try:
            pages, free, size = (db.execute(f"PRAGMA {p}").fetchone()[0]
                                 for p in ("page_count", "freelist_count", "page_size"))
        finally:
            db.close()
        return (pages - free) * size


class Driver:
    """One node growing the vault through the real API, and the operator measuring it."""

    def __init__(self, site: ScaleSite) -> None:
        node = load_agent_config(site.dir / "agent.toml")
        operator = load_agent_config(site.dir / "operator.toml")
        self.keyring = load_keyring(node.key_file, node.node)
        self.client = VaultClient.from_config(node)
        self.operator = VaultClient.from_config(operator)
        self.admin = AdminClient.from_config(operator)
        self.rng = random.Random(20)
        self.filler = self.rng.randbytes(48)
        self.sealed_root = seal_root(self.keyring.restore_public, self.rng.randbytes(160))
        self.public = public_signing_key(self.keyring.signing_seed)
        self.ids: list[bytes] = []  # every chunk a growth snapshot references
        self.snapshots = 0
        self._next = 0
        self.pruned = 0
        self._lock = threading.Lock()
        self._t0 = time.perf_counter()
        self.curve: list[dict] = []  # {chunks, snapshots, s since start, load} every PROGRESS
        self.shared = self.new_chunks(1)[0]

    @property
    def chunks_held(self) -> int:
        """Chunks put so far, less those prune deleted."""
        return self._next - self.pruned

    def close(self) -> None:
        for c in (self.client, self.operator, self.admin):
            c.close()

    def new_chunks(self, n: int) -> list[bytes]:
        """Seal and put ``n`` new chunks; their ids."""
        with self._lock:
            first, self._next = self._next, self._next + n
        sealed = [seal_chunk(self.keyring.id_key, k.to_bytes(16, "little") + self.filler,
                             with_facts=False) for k in range(first, first + n)]
        messages = [[(s.chunk_id, s.blob, s.chunk_id) for s in sealed[i: i + PUT_BATCH]]
                    for i in range(0, n, PUT_BATCH)]
        self.client.put_blobs(messages)
        return [s.chunk_id for s in sealed]

    def commit(self, chunk_ids: list[bytes], days: int = 30) -> str:
        ids = sorted(set(chunk_ids))
        header = encode_header(SnapshotHeader(
            node=self.keyring.node, hostname="scale", paths=("/data/ckpt",),
            tags=("nightly",), client_time_ns=time.time_ns(), files=len(ids),
            bytes=64 * len(ids), sealed_root=self.sealed_root, chunk_count=len(ids),
            chunk_ids_digest=chunk_ids_digest(ids), node_public_key=self.public,
            requested_retention_days=days))
        return self.client.commit(header, sign_header(self.keyring.signing_seed, header),
                                  ids).id

    def _job(self, snapshots: int, per_snapshot: int) -> None:
        ids = self.new_chunks(snapshots * per_snapshot)
        for i in range(snapshots):
            own = ids[i * per_snapshot: (i + 1) * per_snapshot]
            self.commit([*own, self.shared])
        with self._lock:
            self.ids.extend(ids)
            self.snapshots += snapshots
            if self.snapshots % PROGRESS < snapshots:  # the growth curve, as it goes
                wall = time.perf_counter() - self._t0
                self.curve.append({"chunks": len(self.ids), "snapshots": self.snapshots,
                                   "s": round(wall, 1), "load": _load()})
                print(f"progress: {json.dumps(self.curve[-1])}", flush=True)

    def grow(self, chunks: int, snapshots: int) -> dict:
        """Grow to about ``chunks`` chunks and ``snapshots`` snapshots."""
        todo_s = snapshots - self.snapshots
        per = max(1, (chunks - len(self.ids)) // max(todo_s, 1))
        t0, c0, s0 = time.perf_counter(), len(self.ids), self.snapshots
        jobs = [min(JOB, todo_s - i) for i in range(0, todo_s, JOB)]
        with ThreadPoolExecutor(STREAMS) as pool:
            futures = [pool.submit(self._job, n, per) for n in jobs]
            try:
                for f in futures:
                    f.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)  # a failed job (or ^C) ends the growth
                raise
        wall = time.perf_counter() - t0
        return {"grow_s": round(wall, 1), "chunks_per_s": round((len(self.ids) - c0) / wall),
                "commits_per_s": round((self.snapshots - s0) / wall, 1), "load": _load()}


def _median_ms(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1000, 1)


def measure(site: ScaleSite, d: Driver) -> dict:
    """Every figure of one step (see the module docstring)."""
    row: dict = {"chunks": d.chunks_held, "snapshots": d.snapshots}
    absent = lambda: d.client.find_missing([d.rng.randbytes(32) for _ in range(4096)])  # noqa: E731
    present = lambda: d.client.find_missing(d.rng.sample(d.ids, 4096))  # noqa: E731
    row["find_absent_ms"] = _median_ms(absent)
    row["find_present_ms"] = _median_ms(present)
    row["find_load"] = _load()
    row["commit_small_ms"] = _median_ms(lambda: d.commit(d.new_chunks(10)))
    row["commit_4096_ms"] = _median_ms(lambda: d.commit(d.rng.sample(d.ids, 4096)))
    d.snapshots += 2 * REPEATS
    row["commit_load"] = _load()
    t = time.perf_counter()
    listed = sum(1 for _ in query_snapshots(d.operator, SnapshotFilter()))
    row["query_s"], row["query_count"] = round(time.perf_counter() - t, 2), listed
    stub = snapshots_pb2_grpc.SnapshotsStub(d.operator.channel)  # the reply's bytes, as a
    sizes = [m.ByteSize() for m in stub.QuerySnapshots(snapshots_pb2.SnapshotQuery())]
    per = sum(sizes) / len(sizes) + 3  # ListSnapshotsResponse entry: + tag and length
    row["unary_bytes_per_snapshot"] = round(per)
    row["unary_fails_at"] = int(d.operator.max_message_bytes / per)  # projected
    t = time.perf_counter()
    try:
        row["list_unary_count"] = len(d.operator.list_snapshots())
        row["list_unary_s"] = round(time.perf_counter() - t, 2)
    except VaultError as exc:
        row["list_unary_error"] = str(exc)[:300]
    row["list_load"] = _load()
    row["catalog_bytes"] = site.catalog_bytes()
    row["catalog_bytes_per_chunk"] = round(row["catalog_bytes"] / row["chunks"])
    for _ in range(10):
        d.commit(d.new_chunks(10), days=0)
    for label, dry in (("prune_dry", True), ("prune", False)):
        t = time.perf_counter()
        r = d.admin.prune(dry_run=dry)
        row[f"{label}_s"] = round(time.perf_counter() - t, 2)
        row[f"{label}_freed"] = [len(r.snapshots), r.chunks]
    d.pruned += r.chunks
    row["prune_load"] = _load()
    t = time.perf_counter()
    s = d.admin.scrub()
    row["scrub_s"], row["scrub_blobs"] = round(time.perf_counter() - t, 1), s.blobs
    row["scrub_load"] = _load()
    row.update(site.phase_end())
    return row


def report(meta: dict, rows: list[dict]) -> str:
    out = [f"# Vault scale ({meta['vault_code']})", "",
           f"{meta['cpus']} CPUs, shared with other work (load average = 1-minute load when "
           "each figure was taken); vaultd on loopback with mTLS, one node, 4 growth streams. "
           "FindMissing and commit: median of 5 calls. RSS: vaultd VmHWM during the step. "
           f"Load average at start {meta.get('load_at_start')}, at end "
           f"{meta.get('load_at_end', 'running')}.", "",
           "| chunks | snapshots | grow s (chunks/s, commits/s, load) | FindMissing 4096 absent / "
           "present ms (load) | commit 10 new / 4096 held ms (load) | QuerySnapshots s | "
           "ListSnapshots (unary) | prune dry / real s (load) | scrub s (load) | vaultd RSS MiB "
           "| catalog B/chunk |", "|" + "---|" * 11]
    for r in rows:
        unary = (f"{r['list_unary_s']} s" if "list_unary_s" in r
                 else f"fails: {r['list_unary_error'][:90]}")
        if "unary_fails_at" in r:
            unary += (f"; {r['unary_bytes_per_snapshot']} B/snapshot, fails past "
                      f"~{r['unary_fails_at']:,}")
        out.append(
            f"| {r['chunks']:,} | {r['snapshots']:,} | {r['grow_s']} ({r['chunks_per_s']:,}, "
            f"{r['commits_per_s']}, {r['load']}) | {r['find_absent_ms']} / "
            f"{r['find_present_ms']} ({r['find_load']}) | {r['commit_small_ms']} / "
            f"{r['commit_4096_ms']} ({r['commit_load']}) | {r['query_s']} | {unary} | "
            f"{r['prune_dry_s']} / {r['prune_s']} ({r['prune_load']}) | {r['scrub_s']} "
            f"({r['scrub_load']}) | {round(r['vaultd_rss_kb'] / 1024)} | "
            f"{r['catalog_bytes_per_chunk']} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default=STEPS, help="CHUNKS:SNAPSHOTS,... (default %(default)s)")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--out", type=Path)
    ap.add_argument("--old-code", type=Path, help="run vaultd from DIR/bulwark/...")
    a = ap.parse_args(argv)
    steps = [tuple(int(x) for x in s.split(":")) for s in a.steps.split(",")]
    described = br.run(["git", "-C", str(HERE.parent), "describe", "--always", "--dirty"])
    head = br.run(["git", "-C", str(HERE.parent), "rev-parse", "--short", "HEAD"])
    code = f"old code {a.old_code}" if a.old_code else described.stdout.strip()
    out = a.out or HERE / "results" / f"{head.stdout.strip()}-scale.md"
    work = Path(tempfile.mkdtemp(prefix="bulwark-scale-", dir=a.workdir))
    site = ScaleSite(work / "site", a.old_code)
    rows: list[dict] = []
    meta = {"vault_code": code, "cpus": os.cpu_count(), "steps": steps,
            "load_at_start": _load()}
    try:
        site.setup()
        d = Driver(site)
        meta["curve"] = d.curve  # the growth curve so far, in every write of the .json
        try:
            for chunks, snapshots in steps:
                site.phase_start()
                grown = d.grow(chunks, snapshots)
                print(f"grown to {len(d.ids):,} chunks, {d.snapshots:,} snapshots: {grown}",
                      flush=True)
                rows.append({**grown, **measure(site, d)})
                print(json.dumps(rows[-1]), flush=True)
                out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}))
                out.write_text(report(meta, rows))
        finally:
            d.close()
    finally:
        meta.update(site.close(), load_at_end=_load())
        if a.keep:
            print(f"kept {work}")
        else:
            br.remove_tree(work)
    out.with_suffix(".json").write_text(json.dumps({"meta": meta, "rows": rows}))
    print(report(meta, rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
