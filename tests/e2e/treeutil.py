"""Build test trees and compare restored trees with their source, byte for byte."""

from __future__ import annotations

import os
import random
import stat
from pathlib import Path


def make_tree(root: Path, seed: int = 7) -> Path:
    """A tree with nested folders, empty files, multi-chunk files, symlinks,
    non-ASCII names, odd modes and old mtimes."""
    rng = random.Random(seed)
    (root / "ckpt" / "layer.0" / "deep" / "deeper").mkdir(parents=True)
    (root / "empty-dir").mkdir()
    (root / "ckpt" / "empty.bin").write_bytes(b"")
    (root / "ckpt" / "big.bin").write_bytes(rng.randbytes(9 << 20))  # several chunks
    (root / "ckpt" / "layer.0" / "weights.safetensors").write_bytes(rng.randbytes(300_000))
    (root / "ckpt" / "layer.0" / "deep" / "deeper" / "note.txt").write_text("deep\n" * 100)
    (root / "données-日本語.txt").write_text("non-ASCII name\n", encoding="utf-8")
    (root / "script.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(root / "script.sh", 0o750)
    (root / "private.key").write_bytes(b"secret")
    os.chmod(root / "private.key", 0o600)
    os.symlink("ckpt/big.bin", root / "link-to-big")
    os.symlink("/nonexistent/elsewhere", root / "dangling")
    os.utime(root / "ckpt" / "empty.bin", ns=(1_000_000_000_123, 1_000_000_000_123))
    os.chmod(root / "empty-dir", 0o751)
    return root


def snapshot_tree(root: Path) -> dict[str, tuple]:
    """Everything a restore must reproduce, keyed by path relative to ``root``."""
    found: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            st = path.lstat()
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                found[rel] = ("link", os.readlink(path), st.st_mtime_ns)
            elif stat.S_ISDIR(st.st_mode):
                found[rel] = ("dir", stat.S_IMODE(st.st_mode), st.st_mtime_ns)
            else:
                found[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_mtime_ns,
                              path.read_bytes())
    return found
