"""agent.restore.run: a manifest restored under a target from an in-memory vault client
(tests.lib.fake_vault_client); the same through real vaultd processes and the CLI is in
tests/e2e/test_backup_restore.py and tests/e2e/test_hostile.py."""

from __future__ import annotations

import io
import os
import stat

import blake3
import pytest

from bulwark.agent.errors import ConfigError, ManifestError, SnapshotNotFound
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.manifest import (
    ChunkRef,
    Entry,
    EntryType,
    ManifestWriter,
    encode_manifest,
)
from bulwark.agent.restore.overwrite import Overwrite
from bulwark.agent.restore.reader import Manifest
from bulwark.agent.restore.run import Options, restore_manifest
from tests.lib.fake_vault_client import FakeVaultClient

ID_KEY = bytes(range(32))
MTIME = 1_700_000_000_123_456_789


def chunk(client: FakeVaultClient, data: bytes) -> ChunkRef:
    sealed = seal_chunk(ID_KEY, data, with_facts=False)
    client.hold(sealed.blob)
    return ChunkRef(sealed.chunk_id, sealed.key, sealed.size)


def file(path: str, data: bytes, *refs: ChunkRef, offset: int = 0, **kw) -> Entry:
    return Entry(path, EntryType.FILE, kw.pop("mode", 0o640), MTIME, size=len(data),
                 content_hash=blake3.blake3(data).digest(), chunks=refs, offset=offset, **kw)


def directory(path: str) -> Entry:
    return Entry(path, EntryType.DIR, 0o750, MTIME)


def manifest(entries: list[Entry]) -> Manifest:
    raw = b"".join(encode_manifest(entries))
    return Manifest(io.BytesIO(raw), len(raw))


class Tree:
    """A small snapshot: a two-chunk file, two small files packed in one chunk, an empty
    file, a symlink and a hard-linked pair."""

    def __init__(self) -> None:
        self.client = FakeVaultClient()
        self.big = [os.urandom(3000), os.urandom(2000)]
        self.small = [b"alpha\n", b"bravo bravo\n"]
        pack = chunk(self.client, b"".join(self.small))
        self.linked = b"one inode, two names\n"
        link_ref = chunk(self.client, self.linked)
        self.entries = [
            directory("d"),
            file("d/a", self.small[0], pack),
            file("d/b", self.small[1], pack, offset=len(self.small[0])),
            file("d/big", b"".join(self.big), *(chunk(self.client, p) for p in self.big)),
            file("d/empty", b""),
            file("d/l1", self.linked, link_ref, link_group=1),
            file("d/l2", self.linked, link_ref, link_group=1),
            Entry("d/link", EntryType.SYMLINK, 0o777, MTIME, link_target="big"),
        ]

    def restore(self, target, subpath=None, entries=None, **options):
        return restore_manifest(self.client, "snap", manifest(entries or self.entries), target,
                                subpath, workers=2, options=Options(**options))


def test_a_snapshot_is_restored_byte_identical_with_its_metadata(tmp_path):
    tree, target = Tree(), tmp_path / "r"
    progress: list[tuple[int, int]] = []
    result = restore_manifest(tree.client, "snap", manifest(tree.entries), target, None, 2,
                              on_progress=lambda done, total, _: progress.append((done, total)))
    d = target / "d"
    assert (d / "a").read_bytes() == tree.small[0] and (d / "b").read_bytes() == tree.small[1]
    assert (d / "big").read_bytes() == b"".join(tree.big)
    assert (d / "empty").read_bytes() == b""
    assert os.readlink(d / "link") == "big"
    assert (d / "l1").stat().st_ino == (d / "l2").stat().st_ino
    assert stat.S_IMODE((d / "big").stat().st_mode) == 0o640
    assert stat.S_IMODE(d.stat().st_mode) == 0o750
    assert (d / "big").stat().st_mtime_ns == MTIME and d.stat().st_mtime_ns == MTIME
    assert (result.files, result.failed, result.skipped) == (6, [], [])
    assert result.bytes == sum(e.size for e in tree.entries)
    assert {total for _, total in progress} == {result.bytes}
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    # the pack is fetched once for its two files; the hard link's content once
    assert sorted(i for c in tree.client.get_calls for i in c) == sorted(tree.client.blobs)
    assert sorted(os.listdir(d)) == ["a", "b", "big", "empty", "l1", "l2", "link"]


def test_a_damaged_chunk_fails_only_its_file_and_leaves_no_partial_file(tmp_path):
    tree, target = Tree(), tmp_path / "r"
    big = next(e for e in tree.entries if e.path == "d/big")
    tree.client.damaged.add(big.chunks[1].id)
    result = tree.restore(target)
    assert [p for p, _ in result.failed] == ["/d/big"]
    assert "fails its hash" in result.failed[0][1]
    assert not (target / "d" / "big").exists()
    assert not [n for n in os.listdir(target / "d") if ".restore-" in n]  # no temporary left
    assert (target / "d" / "b").read_bytes() == tree.small[1] and result.files == 5


def test_a_content_hash_that_does_not_match_is_a_failure_not_a_file(tmp_path):
    tree, target = Tree(), tmp_path / "r"
    (ref,) = tree.entries[1].chunks
    lying = file("d/a", b"alpha\n", ref, offset=1)  # the wrong slice of the pack
    result = tree.restore(target, entries=[tree.entries[0], lying])
    assert result.failed == [("/d/a", "content hash does not match the manifest")]
    assert not (target / "d" / "a").exists()


def test_a_subpath_restores_it_and_the_folders_above_only(tmp_path):
    tree, target = Tree(), tmp_path / "r"
    result = tree.restore(target, subpath="/d/b")
    assert sorted(os.listdir(target / "d")) == ["b"] and result.files == 1
    with pytest.raises(SnapshotNotFound, match="'d/nothing' is not in this snapshot"):
        tree.restore(tmp_path / "r2", subpath="d/nothing")
    assert not (tmp_path / "r2").exists()


def test_a_bad_manifest_or_target_is_refused_before_anything_is_written(tmp_path):
    tree = Tree()
    # valid entries, then one out of order at the very end: found by the first pass
    raw = b"".join(encode_manifest(tree.entries)) + ManifestWriter().add(directory("a"))[4:]
    with pytest.raises(ManifestError, match="order"):
        restore_manifest(tree.client, "snap", Manifest(io.BytesIO(raw), len(raw)),
                         tmp_path / "r", None, 2)
    assert not (tmp_path / "r").exists() and tree.client.get_calls == []
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        tree.restore(tmp_path / "f")


def test_a_second_restore_changes_nothing_and_keeps_a_local_edit(tmp_path):
    tree, target = Tree(), tmp_path / "r"
    tree.restore(target)
    (target / "d" / "a").write_bytes(b"edited\n")
    fetched = len(tree.client.get_calls)
    again = tree.restore(target)
    assert again.kept == [("/d/a", "exists and differs; not replaced (--overwrite never)")]
    assert again.files == 0
    assert again.unchanged == 6 and (target / "d" / "a").read_bytes() == b"edited\n"
    assert len(tree.client.get_calls) == fetched  # nothing fetched for what stays
    replaced = tree.restore(target, overwrite=Overwrite.IF_CHANGED, verify=True)
    assert (target / "d" / "a").read_bytes() == tree.small[0]
    assert replaced.files == replaced.verified == 1


def test_dry_run_and_delete(tmp_path):
    tree, target = Tree(), tmp_path / "r"
    tree.restore(target)
    (target / "d" / "extra").write_bytes(b"not in the snapshot")
    (target / "d" / "big").unlink()
    plan = tree.restore(target, dry_run=True, delete=True)
    actions = dict(plan.planned)
    assert actions["/d/big"] == "create" and actions["/d/extra"] == "delete"
    assert actions["/d/a"] == "unchanged"
    assert (target / "d" / "extra").exists() and not (target / "d" / "big").exists()
    done = tree.restore(target, delete=True)
    assert done.deleted == ["/d/extra"] and not (target / "d" / "extra").exists()
    assert (target / "d" / "big").read_bytes() == b"".join(tree.big)
