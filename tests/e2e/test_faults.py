"""Faults against real processes: a full disk under the agent's cache folder, and under the
vault's store (tmpfs mounts inside ``unshare --mount``, so nothing outside the test sees
them; as root, as CI runs)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN


def in_mount_namespace(tmpfs: str, size: str, *cmd: object) -> subprocess.CompletedProcess:
    """Run ``cmd`` with a ``size`` tmpfs on ``tmpfs``, in a mount namespace of its own."""
    script = f'mount -t tmpfs -o size={size} tmpfs "$1" && shift && exec "$@"'
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           script, "sh", tmpfs, *map(str, cmd)],
                          capture_output=True, text=True, timeout=300)


def many_files(root: Path, count: int) -> Path:
    """``count`` small files with long names: many cache rows."""
    root.mkdir(parents=True)
    for i in range(count):
        (root / f"shard-{i:06d}-{'x' * 100}.txt").write_text(f"file {i}\n")
    return root


@pytest.mark.parametrize("size", ["48k", "192k"])  # full at open; full mid-run
def test_a_full_cache_folder_is_a_clear_error_naming_it(site, tmp_path, size):
    """Issue 15: the agent's file cache on a full disk once ended in a traceback."""
    cache = site.dir / "cache"
    cache.mkdir(exist_ok=True)
    source = many_files(tmp_path / "src", 3000)
    result = in_mount_namespace(str(cache), size, BIN / "vault-agent", "--config",
                                site.agent_toml, "backup", source)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert str(cache) in result.stderr and "ENOSPC" in result.stderr
    assert site.ctl("snapshots", "--json").json() == []
    assert site.ctl("check", "--json").json()["agree"]
