"""The mounted view's logic without FUSE: folders a backup did not record, the ids/nodes/tags
layout and its links, bounded open trees, and where a read's bytes are in a file's chunks."""

from __future__ import annotations

from bulwark.agent.client.vault import SnapshotInfo
from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType
from bulwark.agent.mount.tree import FOLDER, LINK, FileLayout, SnapshotTree, View


def _info(sid: str, t: int, node: str = "gpu-1", tags=(), added=()) -> SnapshotInfo:
    return SnapshotInfo(id=sid, time_ns=t, node=node, tags=tuple(tags), paths=("/d",),
                        files=1, bytes=1, chunk_count=1, header=b"", signature=b"",
                        added_tags=tuple(added))


def _file(path: str, size: int = 3) -> Entry:
    return Entry(path, EntryType.FILE, 0o644, 0, size=size)


def test_tree_makes_up_parents_the_backup_did_not_record():
    tree = SnapshotTree([Entry("data/ckpt", EntryType.DIR, 0o755, 0), _file("data/ckpt/a"),
                         _file("data/ckpt/b")], time_ns=7)
    assert tree.children("") == ["data"] and tree.children("data") == ["ckpt"]
    assert tree.node("data").kind == FOLDER and tree.node("data").time_ns == 7
    assert tree.node("data/ckpt").entry.type is EntryType.DIR
    assert tree.children("data/ckpt") == ["a", "b"]
    assert tree.node("data/nope") is None


def test_view_lays_out_ids_nodes_tags_and_latest_and_opens_trees_lazily():
    a = _info("a" * 64, 1_700_000_000_000_000_000, tags=("nightly",))
    b = _info("b" * 64, 1_700_000_100_000_000_000, node="gpu-2", added=("keep",))
    opened: list[str] = []

    def open_tree(info):
        opened.append(info.id)
        return SnapshotTree([_file("x")], info.time_ns)

    view = View([a, b], open_tree, max_trees=1)
    assert view.children("") == ["ids", "latest", "nodes", "tags"]
    assert view.node("latest") == view.node("latest") and view.node("latest").kind == LINK
    assert view.node("latest").target == f"ids/{b.id}"
    assert view.children("nodes") == ["gpu-1", "gpu-2"]
    assert view.children("tags") == ["keep", "nightly"]
    (name,) = view.children("tags/nightly")
    assert name == "2023-11-14T22:13:20Z_aaaaaaaaaaaa"
    assert view.node(f"tags/nightly/{name}").target == f"../../ids/{a.id}"
    assert opened == []  # nothing decrypted until a snapshot's folder is entered
    assert view.children(f"ids/{a.id}") == ["x"]
    assert view.node(f"ids/{b.id}/x").entry.path == "x"
    assert view.node(f"ids/{a.id}/x") is not None  # reopened: only one tree stays open
    assert opened == [a.id, b.id, a.id]
    assert view.node("ids/" + "c" * 64) is None and view.node("nope") is None


def test_single_snapshot_is_the_root():
    a = _info("a" * 64, 5)
    view = View([a], lambda info: SnapshotTree([_file("x")], 5), single=True)
    assert view.children("") == ["x"] and view.node("x").kind == "entry"


def test_layout_finds_the_chunks_a_read_overlaps():
    refs = tuple(ChunkRef(bytes([i]) * 32, b"k" * 32, 10) for i in range(4))
    big = Entry("f", EntryType.FILE, 0o644, 0, size=40, chunks=refs)
    layout = FileLayout(big)
    assert list(layout.pieces(0, 40)) == [(0, 0, 10), (1, 0, 10), (2, 0, 10), (3, 0, 10)]
    assert list(layout.pieces(15, 10)) == [(1, 5, 10), (2, 0, 5)]
    assert list(layout.pieces(38, 100)) == [(3, 8, 10)]  # clipped at the end
    assert list(layout.pieces(40, 5)) == []
    packed = Entry("p", EntryType.FILE, 0o644, 0, size=4, offset=13, chunks=refs[:2])
    assert list(FileLayout(packed).pieces(0, 100)) == [(1, 3, 7)]
