"""Deterministic benchmark workloads.

Every generator is driven by a seeded PRNG (``random.Random``), so the same
kind and scale produce the same bytes on every run and every machine.  Only
the standard library is used; bulk data is built with ``randbytes`` plus
``bytes.translate`` tables and strided slice assignment, never per-element
Python loops, so hundreds of megabytes take seconds.

Layout written under ``OUT`` (one directory per *state*; a state is what a
source folder looks like at one point in time, and the bench backs up the
states of one workload one after the other)::

    checkpoint/v1/   config.json, model.safetensors              (base model)
    checkpoint/v2/   config.json, model.safetensors              (~10% of tensors fine-tuned)
    checkpoint/lora/ config.json, model.safetensors (= v1), adapter_config.json,
                     adapter_model.safetensors                    (LoRA next to the base)
    shards/v1/       shard-000000.tar ... shard-000007.tar        (WebDataset style)
    shards/v2/       the same + shard-000008/9, one shard with samples replaced
    smallfiles/v1/   ~20k files, 1-16 KiB, text/json/binary, nested dirs
    smallfiles/v2/   ~2% changed, ~2% new, ~1% deleted

Files that do not change between two states are hard links to the same inode
(copies where the filesystem refuses links), exactly as an untouched file in a
real folder keeps its inode; the bench relies on that to mirror states cheaply.

CLI::

    python -m bench.workload OUT --kind checkpoint|shards|smallfiles|all|sample [--scale F]
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import random
import shutil
import struct
import sys
import tarfile
import time
from pathlib import Path

SEED = 20240611
KINDS = ("checkpoint", "shards", "smallfiles")
FIXED_MTIME = 1_700_000_000  # tar member mtime: shard bytes must not depend on the clock

# ---------------------------------------------------------------------------
# helpers


def _rng(*parts: object) -> random.Random:
    """A PRNG seeded from a stable string (``hash()`` is salted, strings are not)."""
    return random.Random("|".join(str(p) for p in (SEED, *parts)))


def _link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


_WORDS = (
    "the a of and to in is for on with as by at from that this it be are was model data "
    "layer weight tensor train loss step batch epoch gradient learning rate token image "
    "caption photo dog cat street city night light red blue green small large old new "
    "person people standing sitting walking holding table window car tree water sky "
    "building road beach mountain snow field flower bird horse boat plane train bus "
    "kitchen room bed chair computer phone book food plate cup bottle shirt hat "
    "checkpoint config run node cluster gpu memory cache shard sample value error warning "
    "info debug request response server client version update result test ok failed"
).split()


def _text(rng: random.Random, nbytes: int) -> bytes:
    """English-like text (compresses roughly 3:1 with zstd)."""
    out: list[str] = []
    size = 0
    while size < nbytes:
        n = rng.randint(6, 18)
        words = rng.choices(_WORDS, k=n)
        line = " ".join(words).capitalize() + ".\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:nbytes]


# ---------------------------------------------------------------------------
# bf16 tensors


def _normal_bucket_probs(sigma: float) -> list[tuple[int, float]]:
    """P(|x| falls in each bf16 exponent *pair*) for x ~ N(0, sigma).

    The high byte of a little-endian bf16 holds the sign and the top seven
    exponent bits, i.e. one exponent pair [2k, 2k+1].  The low byte (exponent
    LSB + 7 mantissa bits) is close to uniform for real weights.
    """
    out = []
    for hi7 in range(128):
        lo = 2.0 ** (2 * hi7 - 127)
        hi = 2.0 ** (2 * hi7 + 2 - 127)
        p = math.erf(hi / (sigma * math.sqrt(2))) - math.erf(lo / (sigma * math.sqrt(2)))
        if p > 1e-4:
            out.append((hi7, p))
    return out


_HIGH_TABLES: dict[float, bytes] = {}


def _high_table(sigma: float) -> bytes:
    """256-entry translate table: random byte -> (sign | exponent pair) byte."""
    tab = _HIGH_TABLES.get(sigma)
    if tab is not None:
        return tab
    probs = _normal_bucket_probs(sigma)
    total = sum(p for _, p in probs)
    slots: list[int] = []
    for hi7, p in probs:
        slots += [hi7] * max(1, round(128 * p / total))
    # trim / pad to exactly 128 slots, most likely bucket absorbs the rounding
    best = max(probs, key=lambda t: t[1])[0]
    while len(slots) > 128:
        slots.remove(best)
    while len(slots) < 128:
        slots.append(best)
    slots.sort()
    tab = bytes(slots) + bytes(s | 0x80 for s in slots)  # top bit of the random byte = sign
    _HIGH_TABLES[sigma] = tab
    return tab


_LOW_NIBBLE = bytes(i & 0x0F for i in range(256))


def bf16_tensor(rng: random.Random, numel: int, sigma: float) -> bytearray:
    """``numel`` little-endian bf16 values, N(0, sigma)-like: random sign and
    mantissa, exponent concentrated around log2(sigma)."""
    low = rng.randbytes(numel)
    high = rng.randbytes(numel).translate(_high_table(sigma))
    buf = bytearray(2 * numel)
    buf[0::2] = low
    buf[1::2] = high
    return buf


def bf16_near_one(rng: random.Random, numel: int) -> bytearray:
    """Norm weights: values just below/above 1.0 (0x3F7x / 0x3F8x)."""
    low = rng.randbytes(numel).translate(bytes(0x70 + (i & 0x1F) if i & 0x20 else (i & 0x0F)
                                               for i in range(256)))
    buf = bytearray(2 * numel)
    buf[0::2] = low
    # high byte 0x3F for every value: low >= 0x80 -> [1.0, 2.0), else [0.5, 1.0) top end
    buf[1::2] = b"\x3f" * numel
    return buf


def perturb_mantissa(buf: bytearray, rng: random.Random) -> bytearray:
    """Fine-tuning: flip low mantissa bits of every value (exponent and sign kept)."""
    numel = len(buf) // 2
    low = bytes(buf[0::2])
    noise = rng.randbytes(numel).translate(_LOW_NIBBLE)
    a = int.from_bytes(low, "little") ^ int.from_bytes(noise, "little")
    buf[0::2] = a.to_bytes(numel, "little")
    return buf


# ---------------------------------------------------------------------------
# safetensors


def write_safetensors(path: Path, tensors: list[tuple[str, list[int]]], fill,
                      metadata: dict[str, str]) -> int:
    """Write a real safetensors file: u64 LE header length, JSON header, data.

    ``fill(name, numel)`` returns the tensor's bf16 bytes.  The header is padded
    with spaces to a multiple of 8 bytes, as the reference implementation does.
    """
    header: dict[str, object] = {"__metadata__": metadata}
    offset = 0
    for name, shape in tensors:
        nbytes = 2 * math.prod(shape)
        header[name] = {"dtype": "BF16", "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    hjson = json.dumps(header, separators=(",", ":")).encode()
    hjson += b" " * (-len(hjson) % 8)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hjson)))
        f.write(hjson)
        for name, shape in tensors:
            data = fill(name, math.prod(shape))
            assert len(data) == 2 * math.prod(shape)
            f.write(data)
    return 8 + len(hjson) + offset


def _dims(scale: float, layers: int = 10) -> dict[str, int]:
    """Llama-style small transformer; 10 layers, widths shrink with sqrt(scale)
    so the parameter count (and file size) is proportional to ``scale``."""
    s = math.sqrt(max(scale, 1e-4))
    hidden = max(64, 64 * round(1024 * s / 64))
    return {
        "hidden": hidden,
        "inter": max(64, 64 * round(2.75 * hidden / 64)),
        "vocab": max(256, 128 * round(32000 * s / 128)),
        "layers": layers,
        "heads": max(1, hidden // 64),
    }


def model_tensors(d: dict[str, int]) -> list[tuple[str, list[int]]]:
    h, i, v = d["hidden"], d["inter"], d["vocab"]
    out: list[tuple[str, list[int]]] = [("model.embed_tokens.weight", [v, h])]
    for layer in range(d["layers"]):
        p = f"model.layers.{layer}."
        out += [
            (p + "input_layernorm.weight", [h]),
            (p + "self_attn.q_proj.weight", [h, h]),
            (p + "self_attn.k_proj.weight", [h, h]),
            (p + "self_attn.v_proj.weight", [h, h]),
            (p + "self_attn.o_proj.weight", [h, h]),
            (p + "post_attention_layernorm.weight", [h]),
            (p + "mlp.gate_proj.weight", [i, h]),
            (p + "mlp.up_proj.weight", [i, h]),
            (p + "mlp.down_proj.weight", [h, i]),
        ]
    out += [("model.norm.weight", [h]), ("lm_head.weight", [v, h])]
    return out


def _sigma(name: str) -> float:
    if "embed" in name:
        return 0.02
    if "lm_head" in name:
        return 0.03
    if "down_proj" in name or "o_proj" in name:
        return 0.012
    return 0.02


def _base_fill(tag: str):
    def fill(name: str, numel: int) -> bytearray:
        rng = _rng(tag, name)
        if name.endswith("norm.weight"):
            return bf16_near_one(rng, numel)
        return bf16_tensor(rng, numel, _sigma(name))
    return fill


def finetuned_names(tensors: list[tuple[str, list[int]]]) -> set[str]:
    """~10% of the tensors (by count), chosen deterministically among the matrices."""
    mats = sorted(n for n, shape in tensors if len(shape) == 2 and "embed" not in n)
    k = max(1, round(0.1 * len(tensors)))
    return set(_rng("finetune-pick").sample(mats, k))


def gen_checkpoint(out: Path, scale: float = 1.0) -> Path:
    root = out / "checkpoint"
    d = _dims(scale)
    tensors = model_tensors(d)
    config = json.dumps({
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "hidden_size": d["hidden"], "intermediate_size": d["inter"],
        "num_hidden_layers": d["layers"], "num_attention_heads": d["heads"],
        "vocab_size": d["vocab"], "torch_dtype": "bfloat16", "rms_norm_eps": 1e-5,
    }, indent=2).encode() + b"\n"
    meta = {"format": "pt", "producer": "bulwark-bench", "step": "10000"}

    v1 = root / "v1"
    _write(v1 / "config.json", config)
    write_safetensors(v1 / "model.safetensors", tensors, _base_fill("base"), meta)

    # v2: same header layout, ~10% of tensors fine-tuned (perturbed mantissas)
    changed = finetuned_names(tensors)
    base = _base_fill("base")

    def ft_fill(name: str, numel: int) -> bytearray:
        buf = base(name, numel)
        if name in changed:
            perturb_mantissa(buf, _rng("finetune", name))
        return buf

    v2 = root / "v2"
    _link_or_copy(v1 / "config.json", v2 / "config.json")
    write_safetensors(v2 / "model.safetensors", tensors, ft_fill, dict(meta, step="12000"))

    # lora: unchanged base (same inode as v1) + adapter next to it
    lo = root / "lora"
    _link_or_copy(v1 / "config.json", lo / "config.json")
    _link_or_copy(v1 / "model.safetensors", lo / "model.safetensors")
    rank = 32 if scale >= 0.25 else 8
    h, i = d["hidden"], d["inter"]
    lt: list[tuple[str, list[int]]] = []
    for layer in range(d["layers"]):
        p = f"base_model.model.model.layers.{layer}."
        for mod, (o, n) in (("self_attn.q_proj", (h, h)), ("self_attn.k_proj", (h, h)),
                            ("self_attn.v_proj", (h, h)), ("self_attn.o_proj", (h, h)),
                            ("mlp.gate_proj", (i, h)), ("mlp.up_proj", (i, h)),
                            ("mlp.down_proj", (h, i))):
            lt += [(p + mod + ".lora_A.weight", [rank, n]), (p + mod + ".lora_B.weight", [o, rank])]

    def lora_fill(name: str, numel: int) -> bytearray:
        return bf16_tensor(_rng("lora", name), numel, 0.01 if "lora_A" in name else 0.002)

    write_safetensors(lo / "adapter_model.safetensors", lt, lora_fill, {"format": "pt"})
    _write(lo / "adapter_config.json", json.dumps({
        "peft_type": "LORA", "r": rank, "lora_alpha": 2 * rank, "lora_dropout": 0.05,
        "target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                           "down_proj"], "base_model_name_or_path": "../v1",
    }, indent=2).encode() + b"\n")
    return root


# ---------------------------------------------------------------------------
# WebDataset shards


def _jpeg_like(rng: random.Random, size: int) -> bytes:
    """An incompressible blob framed like a JFIF file (SOI/APP0 ... EOI)."""
    head = (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
            b"\xff\xdb\x00\x43\x00" + bytes(range(1, 65)) + b"\xff\xda\x00\x0c")
    body = rng.randbytes(max(0, size - len(head) - 2))
    return head + body + b"\xff\xd9"


def _sample(rng: random.Random, key: str, img_size: int) -> list[tuple[str, bytes]]:
    caption = _text(rng, rng.randint(60, 400)).decode().replace("\n", " ").strip()
    meta = {"key": key, "caption": caption, "width": rng.choice([512, 640, 768, 1024]),
            "height": rng.choice([384, 480, 512, 768]),
            "url": f"https://images.example.org/{rng.getrandbits(64):016x}.jpg",
            "similarity": round(rng.uniform(0.25, 0.45), 4), "license": "cc-by-4.0"}
    return [
        (f"{key}.jpg", _jpeg_like(rng, img_size)),
        (f"{key}.txt", caption.encode() + b"\n"),
        (f"{key}.json", json.dumps(meta, sort_keys=True).encode()),
    ]


def _write_tar(path: Path, members: list[tuple[str, bytes]]) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for name, data in members:
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            ti.mtime = FIXED_MTIME
            ti.mode = 0o644
            ti.uname = ti.gname = "bench"
            tf.addfile(ti, io.BytesIO(data))
    _write(path, buf.getvalue())


def _shard_members(shard: int, shard_bytes: int, replace: set[int] = frozenset()) -> list:
    rng = _rng("shard", shard)
    members: list[tuple[str, bytes]] = []
    size = 0
    idx = 0
    img_mean = max(2048, min(100_000, shard_bytes // 40))
    while size < shard_bytes:
        key = f"{shard:06d}{idx:05d}"
        img = rng.randint(img_mean // 2, img_mean * 3 // 2)
        if idx in replace:  # keep the main stream aligned, draw the new sample elsewhere
            sample = _sample(_rng("shard-replaced", shard, idx), key, img)
        else:
            sample = _sample(rng, key, img)
        members += sample
        size += sum(len(d) + 512 for _, d in sample)
        idx += 1
    return members


def gen_shards(out: Path, scale: float = 1.0, n_shards: int = 8) -> Path:
    root = out / "shards"
    shard_bytes = max(64 * 1024, int(32 * 1024 * 1024 * scale))
    v1, v2 = root / "v1", root / "v2"
    for s in range(n_shards):
        _write_tar(v1 / f"shard-{s:06d}.tar", _shard_members(s, shard_bytes))
    modified = n_shards // 2
    for s in range(n_shards):
        if s != modified:
            _link_or_copy(v1 / f"shard-{s:06d}.tar", v2 / f"shard-{s:06d}.tar")
    # the modified shard: ~10% of samples replaced in place (relabelled / re-encoded)
    n_samples = len(_shard_members(modified, shard_bytes)) // 3
    pick = _rng("replace-pick")
    replace = set(pick.sample(range(n_samples), max(1, n_samples // 10)))
    _write_tar(v2 / f"shard-{modified:06d}.tar", _shard_members(modified, shard_bytes, replace))
    for s in range(n_shards, n_shards + 2):
        _write_tar(v2 / f"shard-{s:06d}.tar", _shard_members(s, shard_bytes))
    return root


# ---------------------------------------------------------------------------
# small files


def _small_file(rng: random.Random, corpus: bytes) -> tuple[str, bytes]:
    size = rng.randint(1024, 16 * 1024)
    kind = rng.random()
    if kind < 0.45:  # text: a slice of the corpus
        off = rng.randrange(0, len(corpus) - size)
        return ".txt", corpus[off:off + size]
    if kind < 0.75:  # json records
        recs = []
        n = 0
        while n < size:
            r = {"id": rng.getrandbits(40), "name": rng.choice(_WORDS) + "_" + rng.choice(_WORDS),
                 "value": round(rng.gauss(0, 10), 5), "ok": rng.random() < 0.9,
                 "tags": rng.sample(_WORDS, 3)}
            s = json.dumps(r)
            recs.append(s)
            n += len(s) + 2
        return ".json", ("[\n" + ",\n".join(recs) + "\n]\n").encode()
    if kind < 0.9:  # binary, incompressible
        return ".bin", rng.randbytes(size)
    # binary, structured (float32 array with a small header): partly compressible
    n = size // 4
    hdr = struct.pack("<4sII", b"ARR1", n, 4)
    vals = rng.randbytes(n * 2)
    buf = bytearray(n * 4)
    buf[0::4] = b"\x00" * n
    buf[1::4] = vals[:n]
    buf[2::4] = vals[n:]
    buf[3::4] = b"\x3f" * n
    return ".f32", hdr + bytes(buf)


def gen_smallfiles(out: Path, scale: float = 1.0) -> Path:
    root = out / "smallfiles"
    n_files = max(50, int(20_000 * scale))
    corpus = _text(_rng("corpus"), 4 * 1024 * 1024)
    v1, v2 = root / "v1", root / "v2"
    rng = _rng("smallfiles")
    paths: list[Path] = []
    top = max(2, round(math.sqrt(n_files) / 6))
    for k in range(n_files):
        a, b = rng.randrange(top), rng.randrange(8)
        depth = rng.random()
        rel = Path(f"proj{a:02d}", f"mod{b}")
        if depth < 0.5:
            rel = rel / f"sub{rng.randrange(4)}"
        ext_name, data = _small_file(rng, corpus)
        rel = rel / f"f{k:06d}{ext_name}"
        _write(v1 / rel, data)
        paths.append(rel)
    # v2: ~2% changed, ~1% deleted, ~2% new
    rng2 = _rng("smallfiles-v2")
    changed = set(rng2.sample(range(n_files), max(1, n_files // 50)))
    deleted = set(rng2.sample(sorted(set(range(n_files)) - changed), max(1, n_files // 100)))
    for k, rel in enumerate(paths):
        if k in deleted:
            continue
        if k in changed:
            _, data = _small_file(rng2, corpus)
            _write(v2 / rel, data)
        else:
            _link_or_copy(v1 / rel, v2 / rel)
    for k in range(n_files, n_files + max(1, n_files // 50)):
        rel = Path(f"proj{rng2.randrange(top):02d}", "new", f"f{k:06d}")
        ext_name, data = _small_file(rng2, corpus)
        _write(v2 / rel.with_suffix(ext_name), data)
    return root


# ---------------------------------------------------------------------------
# sample tree for the README quick start


def write_sample_tree(dest: Path, scale: float = 0.02) -> Path:
    """A small demo folder: a bf16 safetensors checkpoint, two tar shards and a
    few small files (a few MB in total at the default scale)."""
    dest = Path(dest)
    d = _dims(scale * 0.5, layers=4)
    tensors = model_tensors(d)
    ck = dest / "checkpoints" / "step-1000"
    _write(ck / "config.json", json.dumps({"model_type": "llama", "hidden_size": d["hidden"],
                                          "num_hidden_layers": d["layers"],
                                          "vocab_size": d["vocab"]}, indent=2).encode() + b"\n")
    write_safetensors(ck / "model.safetensors", tensors, _base_fill("sample"),
                      {"format": "pt", "step": "1000"})
    shard_bytes = max(64 * 1024, int(32 * 1024 * 1024 * scale))
    for s in range(2):
        _write_tar(dest / "data" / f"shard-{s:06d}.tar", _shard_members(100 + s, shard_bytes))
    rng = _rng("sample-files")
    corpus = _text(_rng("sample-corpus"), 256 * 1024)
    _write(dest / "README.txt", b"Bulwark sample data: a checkpoint, two shards, a few files.\n")
    for k in range(12):
        ext_name, data = _small_file(rng, corpus)
        _write(dest / "notes" / f"file{k:02d}{ext_name}", data)
    return dest


# ---------------------------------------------------------------------------


GENERATORS = {"checkpoint": gen_checkpoint, "shards": gen_shards, "smallfiles": gen_smallfiles}


def states(out: Path, kind: str) -> list[tuple[str, Path]]:
    """The states of a generated workload, in backup order."""
    root = Path(out) / kind
    names = {"checkpoint": ["v1", "v2", "lora"], "shards": ["v1", "v2"],
             "smallfiles": ["v1", "v2"]}[kind]
    return [(n, root / n) for n in names]


def tree_bytes(path: Path) -> tuple[int, int]:
    """(files, bytes) of a directory tree (apparent sizes)."""
    files = size = 0
    for dirpath, _, names in os.walk(path):
        for n in names:
            files += 1
            size += os.lstat(os.path.join(dirpath, n)).st_size
    return files, size


def generate(out: Path, kind: str, scale: float = 1.0) -> Path:
    out = Path(out)
    dest = out / kind
    if dest.exists():
        shutil.rmtree(dest)
    return GENERATORS[kind](out, scale)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.workload",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--kind", default="all", choices=[*KINDS, "all", "sample"])
    ap.add_argument("--scale", type=float, default=None,
                    help="size multiplier (default 1.0; 0.02 for --kind sample)")
    a = ap.parse_args(argv)
    if a.kind == "sample":
        t = time.monotonic()
        dest = write_sample_tree(a.out, a.scale if a.scale is not None else 0.02)
        f, b = tree_bytes(dest)
        print(f"sample: {f} files, {b / 1e6:.1f} MB in {dest} ({time.monotonic() - t:.1f}s)")
        return 0
    scale = a.scale if a.scale is not None else 1.0
    for kind in (KINDS if a.kind == "all" else (a.kind,)):
        t = time.monotonic()
        generate(a.out, kind, scale)
        for name, path in states(a.out, kind):
            f, b = tree_bytes(path)
            print(f"{kind}/{name}: {f} files, {b / 1e6:.1f} MB")
        print(f"{kind}: generated in {time.monotonic() - t:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
