"""Deterministic data for the optional scenarios in bench/scenarios.py.

Same rules as bench/workload.py: seeded PRNGs only, bulk bytes from ``randbytes``
and translate tables (no per-byte Python loops), so the same arguments give the
same bytes on every run.

- :func:`big_safetensors` one large bf16 safetensors file (the memory scenario);
  every 64 MiB tensor has its own seed, so nothing repeats and nothing dedups.
- :func:`many_files` N files of 1-4 KiB in nested folders, 100 per leaf folder;
  each file starts with its own index, so no two files are equal.
- :func:`node_set` one node's data for the many-nodes scenario: two WebDataset
  shards and a bf16 checkpoint, all seeded by the node's index, so the sets of
  two nodes share no chunk (nodes of one tenant deduplicate against each other).
"""

from __future__ import annotations

import os
from pathlib import Path

from bench import workload as wl

MiB = 1024 * 1024
ROW = 4096  # bf16 values per row of the big file's tensors


def big_safetensors(path: Path, size_bytes: int) -> int:
    """Write a bf16 safetensors file of about ``size_bytes`` (tensors of 64 MiB,
    the last one shorter); returns the file's size."""
    rows_per_tensor = 64 * MiB // (2 * ROW)
    total_rows = max(1, size_bytes // (2 * ROW))
    tensors: list[tuple[str, list[int]]] = []
    i = 0
    while total_rows > 0:
        rows = min(rows_per_tensor, total_rows)
        tensors.append((f"model.layers.{i}.mlp.up_proj.weight", [rows, ROW]))
        total_rows -= rows
        i += 1

    def fill(name: str, numel: int) -> bytearray:
        return wl.bf16_tensor(wl._rng("big", name), numel, 0.02)

    return wl.write_safetensors(path, tensors, fill, {"format": "pt", "producer": "bulwark-bench"})


def many_files(root: Path, n: int) -> tuple[int, int]:
    """Write ``n`` files of 1-4 KiB under ``root`` (d00/e00/f0000000.txt ...: 100 files
    per leaf folder, 100 leaves per top folder); ~2/3 text, ~1/3 random binary.
    Returns (files, bytes)."""
    rng = wl._rng("manyfiles")
    text = wl._text(wl._rng("manyfiles-text"), 8 * MiB)
    noise = wl._rng("manyfiles-noise").randbytes(8 * MiB)
    total = 0
    leaf = root
    for k in range(n):
        if k % 100 == 0:
            leaf = root / f"d{k // 10_000:02d}" / f"e{(k // 100) % 100:02d}"
            leaf.mkdir(parents=True, exist_ok=True)
        size = rng.randint(1024, 4096)
        head = f"{k:08d}\n".encode()
        pool, ext = (noise, "bin") if k % 3 == 2 else (text, "txt")
        off = rng.randrange(0, len(pool) - size)
        data = head + pool[off:off + size - len(head)]
        fd = os.open(leaf / f"f{k:07d}.{ext}", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        total += len(data)
    return n, total


def node_set(root: Path, node: int, size_bytes: int) -> tuple[int, int]:
    """One node's data under ``root``: two shard tars (~40% of ``size_bytes`` each)
    and a bf16 checkpoint (~20%), all seeded by ``node``. Returns (files, bytes)."""
    shard_bytes = max(64 * 1024, int(size_bytes * 0.4))
    for j in range(2):
        s = 10_000 + 2 * node + j  # shard seeds no other workload uses
        wl._write_tar(root / "shards" / f"shard-{s:06d}.tar", wl._shard_members(s, shard_bytes))
    hidden = 1024
    rows = max(1, int(size_bytes * 0.2) // (2 * hidden) // 4)
    tensors = [(f"layers.{j}.weight", [rows, hidden]) for j in range(4)]

    def fill(name: str, numel: int) -> bytearray:
        return wl.bf16_tensor(wl._rng("node", node, name), numel, 0.02)

    wl.write_safetensors(root / "checkpoint" / "model.safetensors", tensors, fill,
                         {"format": "pt", "node": str(node)})
    return wl.tree_bytes(root)

