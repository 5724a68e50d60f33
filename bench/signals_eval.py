"""Ransomware-signal evaluation (issue 18): attacks and normal evolutions on the bench
workloads, each backed up after a clean first backup, and the confusion table.

    python -m bench.signals_eval [--scale 0.1] [--out bench/results/<commit>-signals.json]

Two vaults (two ``vaultctl init`` sites, two vaultd processes on loopback) get the same
backups, one with the signals on and one with them off (``run_backup(signals=...)``), so
the CPU the signals add is the difference of the agent's own ``getrusage`` (user + system,
all its threads) over the same work in the same run. Everything is seeded: the same scale
gives the same bytes, attacks and verdicts.

Bases: ``checkpoint`` (bench workload: one bf16 safetensors file + config.json),
``shards`` (8 WebDataset tar shards), ``smallfiles`` (20,000 files at scale 1), ``model``
(a model folder of 12 bf16 safetensors shards, config and tokenizer JSON) and ``model32``
(the same in fp32). Attacks: AES-256-CTR encryption of 100 %, 30 % and 5 % of the files
(by count, the first of a seeded shuffle),
intermittent encryption (every other 4 KiB block, from block 0, of every file), extensions
appended to every file plus a ransom note in every folder, a wiper zeroing 30 % of the files,
a wiper truncating 30 % to 0 bytes, and the tensors of every safetensors file overwritten with
random bits of the same dtype (header intact). Normal: the workload's own v2 state, a newly
downloaded model added, the shards re-shuffled and re-sharded, the tree moved to a new
folder, the fp32 model converted to bf16.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bench import workload

BIN = Path(sys.executable).parent
BLOCK = 4096


# -- trees ------------------------------------------------------------------------------------


def _model(dest: Path, scale: float, tag: str, f32: bool = False) -> None:
    tensors = workload.model_tensors(workload._dims(scale))
    fill = workload._base_fill(tag)
    per = max(1, len(tensors) // 12)
    for n, start in enumerate(range(0, len(tensors), per)):
        part = tensors[start:start + per]
        path = dest / f"model-{n:05d}.safetensors"
        if f32:
            _write_f32(path, part, fill)
        else:
            workload.write_safetensors(path, part, fill, {"format": "pt"})
    (dest / "config.json").write_text(json.dumps({"model_type": "llama", "tag": tag}))
    (dest / "tokenizer.json").write_text(json.dumps(
        {"vocab": {f"tok{i}": i for i in range(5000)}}))


def _write_f32(path: Path, tensors, fill) -> None:
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, shape in tensors:
        nbytes = 4 * _numel(shape)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    rng = random.Random(path.name)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)) + hjson)
        for name, shape in tensors:
            bf = fill(name, _numel(shape))
            out = bytearray(2 * len(bf))
            out[2::4], out[3::4] = bf[0::2], bf[1::2]  # bf16 -> the top half of an f32
            out[0::4] = rng.randbytes(len(bf) // 2)
            out[1::4] = rng.randbytes(len(bf) // 2)
            f.write(out)


def _numel(shape) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _to_bf16(root: Path) -> None:
    for path in sorted(root.rglob("*.safetensors")):
        data = path.read_bytes()
        (hlen,) = struct.unpack_from("<Q", data)
        header = json.loads(data[8:8 + hlen])
        body = memoryview(data)[8 + hlen:]
        new_header, chunks, offset = {}, [], 0
        for name, info in header.items():
            if name == "__metadata__":
                new_header[name] = info
                continue
            a, b = info["data_offsets"]
            f32 = bytes(body[a:b])
            bf = bytearray(len(f32) // 2)
            bf[0::2], bf[1::2] = f32[2::4], f32[3::4]
            new_header[name] = {**info, "dtype": "BF16",
                                "data_offsets": [offset, offset + len(bf)]}
            chunks.append(bf)
            offset += len(bf)
        hjson = json.dumps(new_header, separators=(",", ":")).encode()
        hjson += b" " * (-len(hjson) % 8)
        path.write_bytes(struct.pack("<Q", len(hjson)) + hjson + b"".join(chunks))


def make_base(kind: str, dest: Path, scale: float, cache: Path) -> None:
    """A fresh copy of base ``kind`` at ``dest`` (generated once into ``cache``)."""
    src = cache / kind
    if not src.exists():
        if kind in workload.GENERATORS:
            workload.generate(cache / "gen", kind, scale)
            shutil.copytree(workload.states(cache / "gen", kind)[0][1], src)
        else:
            src.mkdir(parents=True)
            _model(src, scale, "base", f32=(kind == "model32"))
    shutil.copytree(src, dest)


# -- transformations ---------------------------------------------------------------------------


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _pick(root: Path, share: float, seed: str) -> list[Path]:
    files = _files(root)
    random.Random(seed).shuffle(files)
    return files[:max(1, round(share * len(files)))]


def _aes(data: bytes, seed: str) -> bytes:
    rng = random.Random(seed)
    enc = Cipher(algorithms.AES(rng.randbytes(32)), modes.CTR(rng.randbytes(16))).encryptor()
    return enc.update(data) + enc.finalize()


def encrypt(share: float):
    def attack(root: Path, **_) -> None:
        for p in _pick(root, share, f"enc{share}"):
            p.write_bytes(_aes(p.read_bytes(), str(p)))
    return attack


def intermittent(root: Path, **_) -> None:
    for p in _files(root):
        data = bytearray(p.read_bytes())
        for at in range(0, len(data), 2 * BLOCK):
            data[at:at + BLOCK] = _aes(bytes(data[at:at + BLOCK]), f"{p}{at}")
        p.write_bytes(bytes(data))


def rename_and_notes(root: Path, **_) -> None:
    dirs = {p.parent for p in _files(root)}
    for p in _files(root):
        p.rename(p.with_name(p.name + ".locked"))
    for d in dirs:
        (d / "HOW_TO_DECRYPT_YOUR_FILES.txt").write_text("pay 1 BTC to ...\n")


def wipe_zero(root: Path, **_) -> None:
    for p in _pick(root, 0.3, "zero"):
        p.write_bytes(bytes(p.stat().st_size))


def wipe_truncate(root: Path, **_) -> None:
    for p in _pick(root, 0.3, "truncate"):
        p.write_bytes(b"")


def tensor_noise(root: Path, **_) -> None:
    for p in _files(root):
        if p.suffix != ".safetensors":
            continue
        data = bytearray(p.read_bytes())
        (hlen,) = struct.unpack_from("<Q", data)
        start = 8 + hlen
        data[start:] = random.Random(str(p)).randbytes(len(data) - start)
        p.write_bytes(bytes(data))


def next_state(root: Path, kind: str, cache: Path, **_) -> None:
    v2 = dict(workload.states(cache / "gen", kind))["v2"]
    shutil.rmtree(root)
    shutil.copytree(v2, root)


def new_download(root: Path, scale: float, **_) -> None:
    dest = root / "downloads" / "other-model"
    dest.mkdir(parents=True)
    _model(dest, scale / 2, "download")


def reshard(root: Path, **_) -> None:
    members = []
    for shard in sorted(root.glob("*.tar")):
        with tarfile.open(shard) as t:
            members += [(m.name, t.extractfile(m).read()) for m in t.getmembers() if m.isfile()]
        shard.unlink()
    random.Random("reshard").shuffle(members)
    per = max(1, len(members) // 11)
    for n, start in enumerate(range(0, len(members), per)):
        with tarfile.open(root / f"reshard-{n:04d}.tar", "w", format=tarfile.USTAR_FORMAT) as t:
            for name, data in members[start:start + per]:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, _bytes_io(data))


def _bytes_io(data: bytes):
    import io

    return io.BytesIO(data)


def move_tree(root: Path, **_) -> None:
    inner = root / "moved" / "here"
    inner.mkdir(parents=True)
    for p in list(root.iterdir()):
        if p.name != "moved":
            p.rename(inner / p.name)


def convert_bf16(root: Path, **_) -> None:
    _to_bf16(root)


ATTACKS = {
    "encrypt 100%": encrypt(1.0), "encrypt 30%": encrypt(0.3), "encrypt 5%": encrypt(0.05),
    "intermittent 4K": intermittent, "rename + notes": rename_and_notes,
    "wiper zero 30%": wipe_zero, "wiper truncate 30%": wipe_truncate,
    "tensor noise": tensor_noise,
}
CASES = [(kind, name, "attack") for kind in ("checkpoint", "shards", "smallfiles", "model")
         for name in ATTACKS if name != "tensor noise" or kind in ("checkpoint", "model")]
CASES += [("checkpoint", "v2 fine-tune", "normal"), ("shards", "v2 new+modified", "normal"),
          ("smallfiles", "v2 churn", "normal"), ("model", "new download", "normal"),
          ("shards", "re-shuffle + re-shard", "normal"), ("model", "tree moved", "normal"),
          ("model32", "fp32 -> bf16", "normal")]
NORMAL = {"v2 fine-tune": next_state, "v2 new+modified": next_state, "v2 churn": next_state,
          "new download": new_download, "re-shuffle + re-shard": reshard,
          "tree moved": move_tree, "fp32 -> bf16": convert_bf16}


# -- vaults -----------------------------------------------------------------------------------


class Vault:
    def __init__(self, directory: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port)], check=True,
                       capture_output=True)
        port_file = directory / "port"
        self.proc = subprocess.Popen([BIN / "vaultd", "--config", directory / "vault.toml",
                                      "--port-file", port_file], stdout=subprocess.DEVNULL,
                                     stderr=open(directory / "vaultd.log", "wb"))
        for _ in range(400):  # bounded: 20 s
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        from bulwark.agent.client.vault import VaultClient
        from bulwark.agent.keys.keyfile import load_keyring
        from bulwark.agent.site.config import load_agent_config

        self.config = load_agent_config(directory / "agent.toml")
        self.keyring = load_keyring(self.config.key_file, self.config.node)
        self.client = VaultClient.from_config(self.config)

    def backup(self, path: Path, cache: Path, signals: bool):
        from bulwark.agent.backup.run import run_backup

        cache.mkdir(parents=True, exist_ok=True)
        before = resource.getrusage(resource.RUSAGE_SELF)
        start = time.perf_counter()
        result = run_backup(self.client, self.keyring, [str(path)], (), cache,
                            self.config.workers, signals=signals)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return result, cpu, wall

    def close(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def run(scale: float, work: Path, overhead_scale: float, repeats: int = 3,
        cases: bool = True) -> dict:
    on, off = Vault(work / "site-on"), Vault(work / "site-off")
    cache = work / "bases"
    rows = []
    try:
        for n, (kind, name, truth) in enumerate(CASES if cases else ()):
            src = work / "src" / f"case{n:02d}"
            make_base(kind, src, scale, cache)
            base_on, _, _ = on.backup(src, work / "cache" / f"on{n}", True)
            off.backup(src, work / "cache" / f"off{n}", False)
            base_flagged = on.client.get_snapshot(base_on.snapshot.id).suspicious
            change = ATTACKS.get(name) or NORMAL[name]
            change(src, kind=kind, cache=cache, scale=scale)
            res_on, cpu_on, wall_on = on.backup(src, work / "cache" / f"on{n}", True)
            _, cpu_off, wall_off = off.backup(src, work / "cache" / f"off{n}", False)
            info = on.client.get_snapshot(res_on.snapshot.id)
            s = res_on.signals
            rows.append({
                "base": kind, "case": name, "truth": truth, "flagged": info.suspicious,
                "base_flagged": base_flagged, "score": s.score_ppm / 1e6,
                "reasons": list(info.mark_reasons),
                "measures": s.as_dict(), "files": res_on.files, "bytes": res_on.bytes,
                "cpu_on_s": round(cpu_on, 3), "cpu_off_s": round(cpu_off, 3),
                "wall_on_s": round(wall_on, 3), "wall_off_s": round(wall_off, 3)})
            print(f"{kind:<11} {name:<22} {truth:<6} flagged={info.suspicious!s:<5} "
                  f"score={s.score_ppm / 1e4:5.1f}% cpu +{cpu_on - cpu_off:+.2f}s "
                  f"{'; '.join(info.mark_reasons)}", flush=True)
            shutil.rmtree(src)
        overhead = []
        for kind in ("checkpoint", "shards"):
            cpu = {True: [], False: []}
            wall = {True: [], False: []}
            for r in range(repeats):  # alternate which runs first; keep the minimum of each
                for signals in ((True, False) if r % 2 == 0 else (False, True)):
                    src = work / "src" / f"first-{kind}-{r}-{signals}"
                    make_base(kind, src, overhead_scale, work / "bases-overhead")
                    v = on if signals else off
                    _, c, w = v.backup(src, work / "cache" / f"first-{kind}-{r}-{signals}",
                                       signals)
                    cpu[signals].append(c)
                    wall[signals].append(w)
                    shutil.rmtree(src)
            overhead.append({"base": kind, "cpu_on_s": round(min(cpu[True]), 3),
                             "cpu_off_s": round(min(cpu[False]), 3),
                             "wall_on_s": round(min(wall[True]), 3),
                             "wall_off_s": round(min(wall[False]), 3),
                             "cpu_on_all": [round(c, 3) for c in cpu[True]],
                             "cpu_off_all": [round(c, 3) for c in cpu[False]]})
            o = overhead[-1]
            print(f"first backup {kind}: cpu {o['cpu_on_s']:.2f}s with signals, "
                  f"{o['cpu_off_s']:.2f}s without, min of {repeats} "
                  f"({100 * (o['cpu_on_s'] - o['cpu_off_s']) / o['cpu_off_s']:+.1f}%)",
                  flush=True)
    finally:
        on.close()
        off.close()
    return {"scale": scale, "overhead_scale": overhead_scale, "repeats": repeats, "cases": rows,
            "first_backup_overhead": overhead}


def markdown(report: dict) -> str:
    rows = report["cases"]
    tp = sum(r["flagged"] and r["truth"] == "attack" for r in rows)
    fn = sum(not r["flagged"] and r["truth"] == "attack" for r in rows)
    fp = sum(r["flagged"] and r["truth"] == "normal" for r in rows)
    tn = sum(not r["flagged"] and r["truth"] == "normal" for r in rows)
    first = sum(r["base_flagged"] for r in rows)
    out = [f"# Ransomware signals, scale {report['scale']}", "",
           "| | flagged | not flagged |", "|---|---|---|",
           f"| attack | {tp} | {fn} |", f"| normal | {fp} | {tn} |", "",
           f"First backups of the bases (nothing to compare with) flagged: {first} of "
           f"{len(rows)}.", "",
           "| base | case | truth | flagged | score | reasons | agent CPU s on / off (added) |",
           "|---|---|---|---|---|---|---|"]
    for r in rows:
        added = r["cpu_on_s"] - r["cpu_off_s"]
        out.append(f"| {r['base']} | {r['case']} | {r['truth']} | {'yes' if r['flagged'] else 'no'}"
                   f" | {100 * r['score']:.1f}% | {'; '.join(r['reasons']) or '-'} | "
                   f"{r['cpu_on_s']:.2f} / {r['cpu_off_s']:.2f} ({added:+.2f}) |")
    out += ["", f"First backup at scale {report['overhead_scale']}, agent CPU (user+system, "
            "getrusage of the agent's process, all threads) with and without signals, minimum "
            f"of {report.get('repeats', 1)} runs each, alternating which runs first:", "",
            "| base | CPU s with | CPU s without | added | wall s with / without |",
            "|---|---|---|---|---|"]
    for o in report["first_backup_overhead"]:
        pct = 100 * (o["cpu_on_s"] - o["cpu_off_s"]) / o["cpu_off_s"]
        out.append(f"| {o['base']} | {o['cpu_on_s']:.2f} | {o['cpu_off_s']:.2f} | {pct:+.1f}% |"
                   f" {o['wall_on_s']:.2f} / {o['wall_off_s']:.2f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.signals_eval", description=__doc__)
    ap.add_argument("--scale", type=float, default=0.1, help="size of the case workloads")
    ap.add_argument("--overhead-scale", type=float, default=1.0,
                    help="size of the checkpoint and shards whose first backup measures the CPU")
    ap.add_argument("--repeats", type=int, default=3, help="first-backup CPU measurements")
    ap.add_argument("--overhead-only", action="store_true", help="skip the cases")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bulwark-signals-"))
    try:
        report = run(args.scale, tmp, args.overhead_scale, args.repeats, not args.overhead_only)
    finally:  # as root the store sets the immutable attribute on blobs
        for log in tmp.glob("site-*/vaultd.log"):
            print(log.parent.name, log.read_text()[-2000:], file=sys.stderr)
        subprocess.run(["chattr", "-R", "-i", tmp], capture_output=True)
        shutil.rmtree(tmp, ignore_errors=True)
    text = markdown(report)
    print(text)
    if args.out:
        args.out.write_text(json.dumps(report, indent=1))
        args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
