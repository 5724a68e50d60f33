"""agent.restore.overwrite: one decision per entry, from the entry and what stands there."""

from __future__ import annotations

import os

import blake3
import pytest

from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType
from bulwark.agent.restore.overwrite import Action, Overwrite, decide, existing

CONTENT = b"snapshot bytes\n"
REF = ChunkRef(b"i" * 32, b"k" * 32, len(CONTENT))


def _file(mtime_ns: int = 2_000_000_000_000_000_000) -> Entry:
    return Entry("f", EntryType.FILE, 0o644, mtime_ns, size=len(CONTENT),
                 content_hash=blake3.blake3(CONTENT).digest(), chunks=(REF,))


def _decide(rule: Overwrite, entry: Entry, path) -> Action:
    return decide(rule, entry, path, existing(path)).action


def test_nothing_there_is_created_under_every_rule(tmp_path):
    for rule in Overwrite:
        assert _decide(rule, _file(), tmp_path / "f") is Action.CREATE
        assert _decide(rule, _file(), tmp_path / "missing-dir" / "f") is Action.CREATE


@pytest.mark.parametrize(("rule", "same", "different"), [
    (Overwrite.NEVER, Action.UNCHANGED, Action.KEEP),
    (Overwrite.IF_CHANGED, Action.UNCHANGED, Action.REPLACE),
    (Overwrite.ALWAYS, Action.REPLACE, Action.REPLACE),
])
def test_an_existing_file_by_rule(tmp_path, rule, same, different):
    path = tmp_path / "f"
    path.write_bytes(CONTENT)
    assert _decide(rule, _file(), path) is same
    path.write_bytes(b"Snapshot bytes\n")  # same size, other content: hashed
    assert _decide(rule, _file(), path) is different


def test_if_newer_compares_mtimes(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"local")
    os.utime(path, ns=(10, 10))
    assert _decide(Overwrite.IF_NEWER, _file(mtime_ns=11), path) is Action.REPLACE
    assert _decide(Overwrite.IF_NEWER, _file(mtime_ns=10), path) is Action.KEEP


def test_directories_are_merged_and_never_replaced_by_a_file(tmp_path):
    (tmp_path / "d").mkdir()
    directory = Entry("d", EntryType.DIR, 0o755, 1)
    for rule in Overwrite:
        assert _decide(rule, directory, tmp_path / "d") is Action.MERGE
        decision = decide(rule, _file(), tmp_path / "d", existing(tmp_path / "d"))
        assert decision.action is Action.CONFLICT
        assert "a directory stands where the snapshot has a file" in decision.reason
    (tmp_path / "x").write_bytes(b"")
    x = Entry("x", EntryType.DIR, 0o755, 1)
    assert _decide(Overwrite.ALWAYS, x, tmp_path / "x") is Action.REPLACE
    assert _decide(Overwrite.IF_CHANGED, x, tmp_path / "x") is Action.CONFLICT


def test_symlinks_and_fifos_compare_by_what_they_are(tmp_path):
    os.symlink("there", tmp_path / "s")
    link = Entry("s", EntryType.SYMLINK, 0o777, 1, link_target="there")
    assert _decide(Overwrite.IF_CHANGED, link, tmp_path / "s") is Action.UNCHANGED
    other = Entry("s", EntryType.SYMLINK, 0o777, 1, link_target="elsewhere")
    assert _decide(Overwrite.IF_CHANGED, other, tmp_path / "s") is Action.REPLACE
    fifo = Entry("s", EntryType.FIFO, 0o644, 1)
    assert _decide(Overwrite.NEVER, fifo, tmp_path / "s") is Action.KEEP
