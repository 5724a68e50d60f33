"""What a mounted view shows, without FUSE: the snapshots' folders and one snapshot's tree.

:class:`SnapshotTree` indexes one snapshot's manifest by path (one ``Entry`` per file kept in
memory while the snapshot is open; parent folders a backup did not record, such as ``data``
above ``data/ckpt``, are shown as plain folders). :class:`View` lays the snapshots out:

    ids/<id>/...                      every snapshot's tree, by full id
    nodes/<node>/<time>_<id12>        -> ../../ids/<id>   (symbolic links)
    tags/<tag>/<time>_<id12>          -> ../../ids/<id>   (signed and added tags)
    latest                            -> ids/<newest id>

or, for one snapshot (``vaultctl mount --snapshot S``), that snapshot's tree at the root.
Times are UTC (``2026-03-01T02:00:00Z``). Trees are opened on first use and at most
``max_trees`` stay open (least recently used closed first).
"""

from __future__ import annotations

import bisect
import collections
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bulwark.agent.client.vault import SnapshotInfo
from bulwark.agent.format.manifest import Entry, EntryType

#: A folder the view makes up (the root, ids/, a node's folder, a parent the backup skipped).
FOLDER = "folder"
LINK = "link"


@dataclass(frozen=True)
class Node:
    """One path of the view: a made-up folder, a link, or an entry of a snapshot."""

    kind: str  # FOLDER | LINK | "entry"
    target: str = ""  # LINK: where it points
    entry: Entry | None = None
    time_ns: int = 0  # FOLDER: the time shown (the snapshot's, or 0)


class SnapshotTree:
    """One snapshot's entries by path; ``children`` of each folder, sorted by name."""

    def __init__(self, entries: Iterable[Entry], time_ns: int) -> None:
        self.time_ns = time_ns
        self._entries: dict[str, Entry] = {}
        children: dict[str, set[str]] = {"": set()}
        for e in entries:
            self._entries[e.path] = e
            path = e.path
            while path:
                parent, _, name = path.rpartition("/")
                known = parent in children
                children.setdefault(parent, set()).add(name)
                if known:
                    break
                path = parent
        self._children = {k: sorted(v) for k, v in children.items()}

    def node(self, path: str) -> Node | None:
        entry = self._entries.get(path)
        if entry is not None:
            return Node("entry", entry=entry)
        if path in self._children:
            return Node(FOLDER, time_ns=self.time_ns)
        return None

    def children(self, path: str) -> list[str]:
        return self._children.get(path, [])


def stamp(time_ns: int) -> str:
    return datetime.fromtimestamp(time_ns / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def link_name(s: SnapshotInfo) -> str:
    return f"{stamp(s.time_ns)}_{s.id[:12]}"


class View:
    """The mounted view over ``snapshots`` (or one snapshot with ``single``). ``open_tree``
    opens a snapshot's tree (decrypting its manifest); it is called once per snapshot
    while that tree stays among the ``max_trees`` most recently used."""

    def __init__(self, snapshots: Sequence[SnapshotInfo],
                 open_tree: Callable[[SnapshotInfo], SnapshotTree],
                 single: bool = False, max_trees: int = 4) -> None:
        self.snapshots = {s.id: s for s in snapshots}
        self.single = single
        self._open_tree = open_tree
        self._max = max(1, max_trees)
        self._trees: collections.OrderedDict[str, SnapshotTree] = collections.OrderedDict()
        self._lock = threading.Lock()
        self._folders: dict[str, dict[str, Node]] = {"": {}}
        if single:
            return
        newest = max(snapshots, key=lambda s: (s.time_ns, s.id), default=None)
        root = self._folders[""]
        root["ids"] = Node(FOLDER)
        root["nodes"] = Node(FOLDER)
        root["tags"] = Node(FOLDER)
        if newest is not None:
            root["latest"] = Node(LINK, target=f"ids/{newest.id}")
        self._folders["ids"] = {s.id: Node(FOLDER, time_ns=s.time_ns) for s in snapshots}
        self._folders["nodes"], self._folders["tags"] = {}, {}
        for s in snapshots:
            self._add_link(f"nodes/{s.node}", s)
            for tag in s.all_tags:
                self._add_link(f"tags/{tag}", s)

    def _add_link(self, folder: str, s: SnapshotInfo) -> None:
        parent, _, name = folder.rpartition("/")
        self._folders[parent].setdefault(name, Node(FOLDER))
        self._folders.setdefault(folder, {})[link_name(s)] = Node(
            LINK, target=f"../../ids/{s.id}", time_ns=s.time_ns)

    def tree(self, snapshot_id: str) -> SnapshotTree:
        """The open tree of ``snapshot_id``, opening it (and closing the least recently
        used one past ``max_trees``) if needed."""
        with self._lock:
            tree = self._trees.get(snapshot_id)
            if tree is not None:
                self._trees.move_to_end(snapshot_id)
                return tree
        tree = self._open_tree(self.snapshots[snapshot_id])  # outside the lock: slow
        with self._lock:
            self._trees[snapshot_id] = tree
            self._trees.move_to_end(snapshot_id)
            while len(self._trees) > self._max:
                self._trees.popitem(last=False)
        return tree

    def _split(self, path: str) -> tuple[str, str] | None:
        """(snapshot id, path inside it) if ``path`` is inside a snapshot's tree."""
        if self.single:
            return next(iter(self.snapshots)), path
        parts = path.split("/", 2)
        if len(parts) >= 2 and parts[0] == "ids" and parts[1] in self.snapshots:
            return parts[1], parts[2] if len(parts) == 3 else ""
        return None

    def node(self, path: str) -> Node | None:
        """What ``path`` ('/'-separated, no leading '/'; '' is the root) is, or None."""
        inside = self._split(path)
        if inside is not None:
            return self.tree(inside[0]).node(inside[1])
        if path in self._folders:
            parent, _, name = path.rpartition("/")
            return self._folders[parent][name] if path else Node(FOLDER)
        parent, _, name = path.rpartition("/")
        return self._folders.get(parent, {}).get(name)

    def children(self, path: str) -> list[str]:
        inside = self._split(path)
        if inside is not None:
            return self.tree(inside[0]).children(inside[1])
        return sorted(self._folders.get(path, {}))


class FileLayout:
    """Where each byte of a file's content is: its chunks' start offsets in the
    concatenation, so a read finds its first chunk by bisection (a 400 GB file has ~400,000
    chunks; a read touches only the ones it overlaps)."""

    def __init__(self, entry: Entry) -> None:
        self.entry = entry
        self.starts: list[int] = []
        position = 0
        for ref in entry.chunks:
            self.starts.append(position)
            position += ref.size

    def pieces(self, offset: int, size: int) -> Iterable[tuple[int, int, int]]:
        """``(chunk index, start, end)`` within each chunk for ``size`` bytes of content
        at ``offset`` (clipped to the file's size)."""
        e = self.entry
        if e.type is not EntryType.FILE or offset >= e.size or size <= 0:
            return
        lo = e.offset + offset
        hi = e.offset + min(e.size, offset + size)
        i = max(0, bisect.bisect_right(self.starts, lo) - 1)
        while i < len(self.starts) and self.starts[i] < hi:
            start = self.starts[i]
            a, b = max(lo, start), min(hi, start + e.chunks[i].size)
            if a < b:
                yield i, a - start, b - start
            i += 1
