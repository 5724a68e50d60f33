"""The foundation's data path through real processes: backup, list, restore, verify."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import pytest

from tests.e2e.treeutil import make_tree, snapshot_tree

# The data path on both chunk stores: the filesystem and an S3 Object Lock bucket (issue 17).
pytestmark = pytest.mark.parametrize("site", ["fs", "s3"], indirect=True)


def restored(target: Path, source: Path) -> Path:
    """Where a backed-up absolute path lands under a restore target."""
    return target / str(source).lstrip("/")


def test_restore_is_byte_identical(site, tmp_path):
    source = make_tree(tmp_path / "src")
    expected = snapshot_tree(source)
    backup = site.backup(source, tags=("nightly", "v1"))
    assert backup["files"] == sum(1 for v in expected.values() if v[0] == "file")
    assert backup["bytes"] == sum(len(v[3]) for v in expected.values() if v[0] == "file")
    assert backup["new_chunks"] > 3 and backup["new_bytes"] > 9 << 20

    listed = site.ctl("snapshots", "--json").json()
    assert [s["id"] for s in listed] == [backup["snapshot"]]
    assert listed[0]["tags"] == ["nightly", "v1"] and listed[0]["paths"] == [str(source)]

    result = site.ctl("restore", backup["snapshot"][:10], tmp_path / "r", "--json")
    assert result.code == 0, result.err
    assert result.json()["files"] == backup["files"]
    assert snapshot_tree(restored(tmp_path / "r", source)) == expected
    # Parents of the backed-up path are recreated as directories.
    assert restored(tmp_path / "r", source).parent.is_dir()


def test_restore_latest_and_subpath(site, tmp_path):
    source = make_tree(tmp_path / "src")
    site.backup(source)
    wanted = source / "ckpt" / "layer.0"
    result = site.ctl("restore", "latest", tmp_path / "r", "--path", wanted, "--json")
    assert result.code == 0, result.err
    out = restored(tmp_path / "r", source)
    assert (out / "ckpt" / "layer.0" / "weights.safetensors").read_bytes() == (
        wanted / "weights.safetensors").read_bytes()
    assert not (out / "ckpt" / "big.bin").exists()
    assert not (out / "script.sh").exists()


def test_unknown_subpath_and_snapshot_are_errors(site, tmp_path):
    source = make_tree(tmp_path / "src")
    site.backup(source)
    missing_path = site.ctl("restore", "latest", tmp_path / "r", "--path", "/no/such/thing")
    assert missing_path.code == 1 and "not in this snapshot" in missing_path.err
    missing_snap = site.ctl("restore", "deadbeef", tmp_path / "r2")
    assert missing_snap.code == 1 and "deadbeef" in missing_snap.err
    assert not (tmp_path / "r2").exists()


def ancestor_mtimes(path: Path) -> list[int]:
    return [p.stat().st_mtime_ns for p in path.parents]


def test_unchanged_rebackup_sends_nothing_and_reads_nothing(site, tmp_path):
    source = make_tree(tmp_path / "src")
    ancestors = ancestor_mtimes(source)
    first = site.backup(source)
    second = site.backup(source)
    assert second["snapshot"] != first["snapshot"]
    if ancestor_mtimes(source) == ancestors:
        assert second["new_chunks"] == 0 and second["new_bytes"] == 0
    else:
        # Another process touched /tmp (a parent the snapshot records): only the
        # manifest's chunk may be new, never file data.
        assert second["new_chunks"] <= 1, second
    assert second["files_read"] == 0
    assert second["files"] == first["files"] and second["bytes"] == first["bytes"]
    result = site.ctl("restore", second["snapshot"], tmp_path / "r")
    assert result.code == 0, result.err
    assert snapshot_tree(restored(tmp_path / "r", source)) == snapshot_tree(source)


def test_insert_one_byte_resends_few_chunks(site, tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    big = source / "model.bin"
    data = os.urandom(64 << 20)
    big.write_bytes(data)
    first = site.backup(source)
    assert first["new_chunks"] >= 30
    big.write_bytes(b"\x00" + data)
    second = site.backup(source)
    assert 1 <= second["new_chunks"] <= 3, second
    assert second["files_read"] == 1


def test_vaultd_stops_cleanly_on_sigint(site):
    import signal
    site.proc.send_signal(signal.SIGINT)
    assert site.proc.wait(timeout=20) == 0
    site.proc.communicate()
    site.proc = None


def test_small_files_deduplicate_without_the_cache_after_an_insert(site, tmp_path):
    """Pack boundaries follow the files' content, so a tree re-read without the node cache
    (lost cache, another node with the same dataset) after five files were added and one
    removed re-sends only the packs around the changes, not every pack after them."""
    rng = random.Random(7)
    source = tmp_path / "src"
    source.mkdir()
    for i in range(1000):
        (source / f"f{i:04d}").write_bytes(rng.randbytes(rng.randint(1 << 10, 16 << 10)))
    first = site.backup(source)
    assert first["new_chunks"] >= 6, first  # ~8 MB of noise: several packs
    for name in ("f0003a", "f0003b", "f0003c", "f0003d", "f0003e"):  # sort early: ~70 KB
        (source / name).write_bytes(rng.randbytes(14 << 10))  # before the rest
    (source / "f0500").unlink()
    shutil.rmtree(site.dir / "cache")
    second = site.backup(source)
    assert second["files_read"] == second["files"] == 1004
    # the two packs holding the changes, at most one more, and the manifest
    assert second["new_chunks"] <= 4, second
    assert second["new_bytes"] < 0.5 * first["new_bytes"], (second, first)
