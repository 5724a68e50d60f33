"""The agent's CPU budget per GB: the floor of the work it cannot skip, against what it spends.

Every stage a backup (or a restore) cannot skip is timed on its own, in this one process,
with the libraries and settings the agent uses (``bulwark.agent.format``), without gRPC, on
the first state of the bench's checkpoint and shards workloads (bench/workload.py):

backup   read (``readinto`` a reused buffer), FastCDC cuts, the keyed BLAKE3 id/key pass,
         the file's content hash, the bf16 byte-plane split, the codec (zstd at the agent's
         levels and plane parameters, the plane probes), the codec's signal facts, the
         format-v2 seal (key derivations, the BLAKE3 nonce pass, AES-256-GCM, the header),
         the blob's unkeyed BLAKE3 (its id), PutChunks message serialisation (~2 MiB each)
restore  GetChunks message parsing, the v2 open (AES-GCM, the nonce check), the payload
         decode (zstd, plane merge), the file's content hash, writing the file

Then the real tools, in the same run, on the same folder, each in a fresh repository:
Bulwark (vault-agent backup, vaultctl restore, vaultd on loopback), restic with a local
repository and restic over SFTP to a loopback sshd (bench.run starts it). Client CPU is
user + system from rusage, as in bench.run. The report says how much of the agent's CPU is
the floor, how much is Python and transport on top, and what 0.35x (backup) or 0.5x
(restore) restic's would leave::

    python -m bench.cpu_budget                     # scale 1, ~5 minutes on 2 cores
    python -m bench.cpu_budget --scale 0.3 --repeats 3 --out bench/results/budget.md

CPU times are process CPU (``time.process_time``) around single-threaded calls; the
libraries release the GIL but run each call on the calling thread, so the sums are the
CPU a one-lane agent would spend. Min over ``--repeats`` per stage. The allocator is tuned as
the agent's entry points tune it (agent.allocator). The tools run from this checkout: with
PYTHONDONTWRITEBYTECODE set and stale ``__pycache__`` files, every command compiles its
modules again (~0.3 CPU-s); run ``python -m compileall -q agent vault protos`` first, as an
installed package has its bytecode compiled.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import blake3

from bench import run as br
from bench import workload as wl
from bulwark.agent.allocator import tune
from bulwark.agent.backup.tensors import read_layout
from bulwark.agent.format import blob as fblob
from bulwark.agent.format import codec
from bulwark.agent.format.chunker import READ_BUFFER, chunk_file
from bulwark.agent.format.crypto import chunk_id_and_key
from bulwark.agent.format.planes import split_planes
from bulwark.protos.bulwark.v1 import vault_pb2

ID_KEY = bytes(range(32))
MESSAGE_BYTES = 2 << 20  # the uploader's PutChunks message size (agent.backup.uploader)
WORKLOADS = ("checkpoint", "shards")


def _cpu(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        best = min(best, time.process_time() - t0)
    return best


def _each(fn: Callable[..., object], items: list) -> Callable[[], None]:
    """Call ``fn(*item)`` for every item, keeping no result: like the agent, whose buffers
    are freed and reused chunk after chunk (kept results would time page faults instead)."""
    def go() -> None:
        for item in items:
            fn(*item)
    return go


def _files(state: Path) -> list[Path]:
    return sorted(p for p in state.rglob("*") if p.is_file())


def _chunks(files: list[Path]) -> list[tuple[bytes, codec.TensorHint | None]]:
    out = []
    for path in files:
        size = path.stat().st_size
        layout = read_layout(path, size)
        for piece in chunk_file(path):
            data = bytes(piece.data)
            hint = layout.hint(piece.offset, len(data)) if layout else None
            out.append((data, hint))
    return out


def _read(files: list[Path]) -> None:
    buf = memoryview(bytearray(READ_BUFFER))
    for path in files:
        with open(path, "rb", buffering=0) as f:
            while f.readinto(buf):
                pass


def _cut(files: list[Path]) -> None:
    for path in files:
        for _ in chunk_file(path):
            pass


def _messages(blobs: list[tuple[bytes, bytes]]) -> list[list[tuple[bytes, bytes]]]:
    out, cur, size = [], [], 0
    for item in blobs:
        if cur and size + len(item[1]) > MESSAGE_BYTES:
            out.append(cur)
            cur, size = [], 0
        cur.append(item)
        size += len(item[1])
    return out + ([cur] if cur else [])


def backup_stages(files: list[Path], repeats: int) -> dict[str, float]:
    """CPU seconds of each backup stage over ``files`` (min over ``repeats``)."""
    chunks = _chunks(files)
    keys = [chunk_id_and_key(ID_KEY, d)[1] for d, _ in chunks]
    payloads = [codec.encode_payload(d, h) for d, h in chunks]
    blobs = [fblob._seal_payload(k, p) for k, p in zip(keys, payloads, strict=True)]
    ids = [fblob.blob_digest(b) for b in blobs]
    messages = _messages(list(zip(ids, blobs, strict=True)))
    hinted = [(d, h) for d, h in chunks if h is not None]

    def content() -> None:
        for path in files:
            h = blake3.blake3(max_threads=1)
            for d, _ in chunks_by_file[path]:
                h.update(d)
            h.digest()

    chunks_by_file: dict[Path, list] = {p: [] for p in files}
    at = 0
    for path in files:  # chunks are in file order; split them back per file
        size, got = path.stat().st_size, 0
        while got < size:
            chunks_by_file[path].append(chunks[at])
            got += len(chunks[at][0])
            at += 1

    def aes_only() -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        for k, p in zip(keys, payloads, strict=True):
            AESGCM(k).encrypt(bytes(12), p, b"")

    read = _cpu(lambda: _read(files), repeats)
    cut = _cpu(lambda: _cut(files), repeats)
    sealing = list(zip(keys, payloads, strict=True))
    split = _cpu(_each(lambda d, h: split_planes(d, h.width, h.phase), hinted), repeats)
    enc = _cpu(_each(codec.encode_payload, chunks), repeats)
    enc_facts = _cpu(_each(codec.encode_payload_facts, chunks), repeats)
    seal = _cpu(_each(fblob._seal_payload, sealing), repeats)
    aes = _cpu(aes_only, repeats)
    return {
        "read (readinto, page cache)": read,
        "FastCDC cuts": max(0.0, cut - read),
        "keyed BLAKE3 id + key": _cpu(_each(lambda d, _: chunk_id_and_key(ID_KEY, d),
                                            chunks), repeats),
        "content hash (BLAKE3 of each file)": _cpu(content, repeats),
        "bf16 plane split": split,
        "zstd + plane probes (codec, no split)": max(0.0, enc - split),
        "codec signal facts": max(0.0, enc_facts - enc),
        "AES-256-GCM": aes,
        "v2 seal other (KDFs, nonce BLAKE3, header)": max(0.0, seal - aes),
        "blob BLAKE3 (chunk id)": _cpu(_each(fblob.blob_digest, [(b,) for b in blobs]),
                                       repeats),
        "PutChunks serialisation": _cpu(_each(lambda m: vault_pb2.PutChunksRequest(
            blobs=[vault_pb2.Blob(chunk_id=i, data=b, digest=i) for i, b in m]
        ).SerializeToString(), [(m,) for m in messages]), repeats),
    }


def restore_stages(files: list[Path], repeats: int, out_dir: Path) -> dict[str, float]:
    """CPU seconds of each restore stage over ``files`` (min over ``repeats``)."""
    per_file = []
    for path in files:
        size = path.stat().st_size
        layout = read_layout(path, size)
        items = []
        for piece in chunk_file(path):
            data = bytes(piece.data)
            hint = layout.hint(piece.offset, len(data)) if layout else None
            key = chunk_id_and_key(ID_KEY, data)[1]
            b = fblob._seal_payload(key, codec.encode_payload(data, hint))
            items.append((fblob.blob_digest(b), key, b, len(data)))
        per_file.append(items)
    flat = [it for items in per_file for it in items]
    wire = [vault_pb2.Blob(chunk_id=i, data=b).SerializeToString() for i, _, b, _ in flat]

    def open_only() -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        for _, key, b, _ in flat:
            blob_key, nonce_key = fblob.v2_keys(key)
            p = AESGCM(blob_key).decrypt(b[8:20], memoryview(b)[20:], b[:8])
            blake3.blake3(p, key=nonce_key).digest(length=12)

    decoded = [fblob.decode_blob(i, k, b, n) for i, k, b, n in flat]

    def content() -> None:
        at = 0
        for items in per_file:
            h = blake3.blake3(max_threads=1)
            for _ in items:
                h.update(decoded[at])
                at += 1
            h.digest()

    def write() -> None:
        at = 0
        for n, items in enumerate(per_file):
            with open(out_dir / f"f{n}", "wb", buffering=0) as f:
                for _ in items:
                    f.write(decoded[at])
                    at += 1

    full = _cpu(_each(fblob.decode_blob, flat), repeats)
    opened = _cpu(open_only, repeats)
    return {
        "GetChunks message parsing": _cpu(_each(lambda w: vault_pb2.Blob.FromString(w).data,
                                                [(w,) for w in wire]), repeats),
        "v2 open (KDFs, AES-GCM, nonce BLAKE3)": opened,
        "payload decode (zstd, plane merge, copies)": max(0.0, full - opened),
        "content hash (BLAKE3 of each file)": _cpu(content, repeats),
        "write (page cache)": _cpu(write, repeats),
    }


def tool_cpu(tool_name: str, state: Path, work: Path) -> tuple[float, float]:
    """Client CPU seconds (backup, restore) of one tool on ``state``, fresh repository."""
    br.remove_tree(work)
    work.mkdir(parents=True)
    src = work / "src" / state.parent.name
    src.mkdir(parents=True)
    tool = br.TOOLS[tool_name](work)
    try:
        tool.setup()
        br.mirror(state, src)
        r, _ = tool.backup(src, "budget")
        target = work / "restore"
        target.mkdir()
        q, _ = tool.restore(target)
        return r.cpu_user_s + r.cpu_sys_s, q.cpu_user_s + q.cpu_sys_s
    finally:
        tool.close()
        br.remove_tree(work)


def startup_cpu(argv: list[str], repeats: int) -> float:
    """Client CPU seconds of ``argv`` (a ``--help``: imports and the parser, no work)."""
    return min(_run_cpu(argv) for _ in range(max(3, repeats)))


def _run_cpu(argv: list[str]) -> float:
    r = br.run(argv).check()
    return r.cpu_user_s + r.cpu_sys_s


def _table(title: str, stages: dict[str, float], gb: float, agent: float,
           restic: float, sftp: float, target: float, startup: float) -> list[str]:
    floor = sum(stages.values()) / gb
    agent_gb, restic_gb, sftp_gb = agent / gb, restic / gb, sftp / gb
    start_gb = startup / gb
    lines = [f"#### {title}", "", "| stage | CPU-s/GB | share of agent |", "|---|---|---|"]
    for name, s in stages.items():
        lines.append(f"| {name} | {s / gb:.3f} | {s / gb / agent_gb:.0%} |")
    allowed = target * restic_gb
    lines += [
        f"| **floor (sum)** | **{floor:.3f}** | **{floor / agent_gb:.0%}** |",
        f"| agent measured (vault-agent/vaultctl, rusage) | {agent_gb:.3f} | 100% |",
        f"| on top of the floor | {agent_gb - floor:.3f} "
        f"| {(agent_gb - floor) / agent_gb:.0%} |",
        f"| of which start-up (the command's `--help`: interpreter, imports, parser; "
        f"{startup:.2f} CPU-s a run) | {start_gb:.3f} | {start_gb / agent_gb:.0%} |",
        f"| of which Python, threads, gRPC + mTLS | {agent_gb - floor - start_gb:.3f} "
        f"| {(agent_gb - floor - start_gb) / agent_gb:.0%} |",
        f"| restic local | {restic_gb:.3f} | agent = {agent_gb / restic_gb:.2f}x |",
        f"| restic over SFTP | {sftp_gb:.3f} | agent = {agent_gb / sftp_gb:.2f}x |",
        f"| target {target}x restic local | {allowed:.3f} | floor is "
        f"{floor / allowed:.0%} of it; {allowed - floor:.3f} left for the rest |",
        "",
    ]
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description="CPU per GB of each stage the agent cannot skip, against the real agent "
                    "and restic, on the bench checkpoint and shards.",
        epilog="example: python -m bench.cpu_budget --scale 0.5 --out budget.md")
    ap.add_argument("--scale", type=float, default=1.0, help="workload size multiplier")
    ap.add_argument("--repeats", type=int, default=2, help="min over this many per stage")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--out", type=Path, help="write the Markdown report here too")
    a = ap.parse_args(argv)
    tune()  # the agent's malloc thresholds (agent.allocator), as its entry points set them
    commit = br.run(["git", "describe", "--always", "--dirty"], cwd=br.REPO_ROOT).stdout.strip()
    lines = [f"### CPU budget per GB (git {commit}, "
             f"scale {a.scale}, load {os.getloadavg()[0]:.1f} at start)", ""]
    with tempfile.TemporaryDirectory(prefix="bulwark-budget-") as tmp:
        root = Path(tmp)
        for kind in a.workloads.split(","):
            wl.generate(root / "data", kind, a.scale)
            state = wl.states(root / "data", kind)[0][1]
            files = _files(state)
            gb = sum(p.stat().st_size for p in files) / 1e9
            b_stages = backup_stages(files, a.repeats)
            out_dir = root / "out"
            out_dir.mkdir(exist_ok=True)
            r_stages = restore_stages(files, a.repeats, out_dir)
            br.remove_tree(out_dir)
            cpu = {t: tool_cpu(t, state, root / "work" / t)
                   for t in ("bulwark", "restic", "restic-sftp")}
            exe = br.Bulwark(root).exe
            start_b = startup_cpu([exe["vault-agent"], "--config", "x", "backup", "--help"],
                                  a.repeats)
            start_r = startup_cpu([exe["vaultctl"], "restore", "--help"], a.repeats)
            lines.append(f"### {kind} v1: {len(files)} files, {gb * 1e3:.0f} MB")
            lines.append("")
            lines += _table("backup", b_stages, gb, cpu["bulwark"][0], cpu["restic"][0],
                            cpu["restic-sftp"][0], 0.35, start_b)
            lines += _table("restore", r_stages, gb, cpu["bulwark"][1], cpu["restic"][1],
                            cpu["restic-sftp"][1], 0.5, start_r)
            br.remove_tree(root / "data" / kind)
            print("\n".join(lines[-40:]), flush=True)
    lines.append(f"load at end {os.getloadavg()[0]:.1f}")
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        a.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
