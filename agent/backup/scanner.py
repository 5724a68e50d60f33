"""Walks the paths given to a backup and lists what to store, in manifest order.

Paths are kept as given, made absolute (as restic does): backing up ``/data/ckpt``
stores ``data``, ``data/ckpt`` and everything under it, so a restore into ``/tmp/r``
recreates ``/tmp/r/data/ckpt/...``. Symlinks are stored, never followed. FIFOs, sockets
and device nodes are stored as what they are (type, mode, device numbers), never opened.
Whatever cannot be listed or examined is reported through ``on_skip`` with the reason
(issue 13: a directory that cannot be listed is stored empty *and* reported).
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bulwark.agent.backup.exclude import PathFilter
from bulwark.agent.errors import ConfigError
from bulwark.agent.format.manifest import EntryType, path_sort_key


@dataclass(frozen=True, slots=True)
class ScanItem:
    """One file-system object found by the scan, with what the cache keys on."""

    rel: str
    type: EntryType
    mode: int
    mtime_ns: int
    ctime_ns: int
    size: int
    inode: int
    device: int
    link_target: str = ""
    nlink: int = 1
    uid: int = 0
    gid: int = 0
    rdev: tuple[int, int] = (0, 0)  # device nodes: (major, minor)

    @property
    def abs(self) -> str:
        """The absolute path on this machine (``rel`` is it without the leading '/')."""
        return "/" + self.rel


_KINDS = {
    stat.S_IFDIR: EntryType.DIR,
    stat.S_IFREG: EntryType.FILE,
    stat.S_IFLNK: EntryType.SYMLINK,
    stat.S_IFIFO: EntryType.FIFO,
    stat.S_IFSOCK: EntryType.SOCKET,
    stat.S_IFCHR: EntryType.CHAR_DEVICE,
    stat.S_IFBLK: EntryType.BLOCK_DEVICE,
}


def _item(abs_path: str, st: os.stat_result) -> ScanItem | None:
    kind = _KINDS.get(stat.S_IFMT(st.st_mode))
    if kind is None:
        return None
    device = kind in (EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE)
    return ScanItem(
        rel=abs_path.lstrip("/"),
        type=kind,
        mode=stat.S_IMODE(st.st_mode),
        mtime_ns=st.st_mtime_ns,
        ctime_ns=st.st_ctime_ns,
        size=st.st_size if kind is EntryType.FILE else 0,
        inode=st.st_ino,
        device=st.st_dev,
        link_target=os.readlink(abs_path) if kind is EntryType.SYMLINK else "",
        nlink=st.st_nlink,
        uid=st.st_uid,
        gid=st.st_gid,
        rdev=(os.major(st.st_rdev), os.minor(st.st_rdev)) if device else (0, 0),
    )


def scan(paths: Iterable[str], on_skip: Callable[[str, str], None] | None = None,
         exclude: Iterable[str] | PathFilter = ()) -> Iterator[ScanItem]:
    """Yield every object under ``paths`` (and their parent directories) in manifest order.

    The walk is lazy (issue #6): each directory is listed when it is reached, its children
    sorted by name bytes, so memory holds the listings along one path, not the tree. A
    path that does not exist raises ConfigError (exit 2) here, before anything is yielded.
    ``on_skip(path, reason)`` is told about objects that are not stored. ``exclude`` is a
    ``PathFilter`` or restic exclude patterns (``agent.backup.exclude``) matched against each
    absolute path; an excluded directory is not descended into.
    """
    tops = []
    for given in paths:
        top = os.path.abspath(given)
        try:
            tops.append((top, os.lstat(top)))
        except FileNotFoundError:
            raise ConfigError(f"backup path {given!r} does not exist") from None
    walker = _Walker(exclude if isinstance(exclude, PathFilter)
                     else PathFilter.build(exclude), on_skip)
    per_path = [walker.walk(top, st) for top, st in tops]
    return _unique(heapq.merge(*per_path, key=lambda i: path_sort_key(i.rel)))


def _unique(items: Iterator[ScanItem]) -> Iterator[ScanItem]:
    """Drop repeats: overlapping backup paths share parents (and possibly subtrees)."""
    last = None
    for item in items:
        if item.rel != last:
            last = item.rel
            yield item


def _name_key(name: str) -> bytes:
    return name.encode("utf-8", "surrogateescape")


class _Walker:
    """One backup path's objects in manifest order: its parents, then a depth-first walk
    with each directory's children sorted by name bytes. That is exactly path_sort_key
    order, because a directory's subtree sorts right after it and before its next sibling
    (``a``, ``a/b``, ``a-b``, ``a.txt``: '/' is never inside a component)."""

    def __init__(self, path_filter: PathFilter,
                 on_skip: Callable[[str, str], None] | None) -> None:
        self.filter = path_filter
        self.on_skip = on_skip

    def item(self, abs_path: str, st: os.stat_result) -> ScanItem | None:
        """The item to store, or None (excluded, or a type that is not stored)."""
        if self.filter.excludes(abs_path):
            return None
        try:
            item = _item(abs_path, st)
        except OSError as exc:  # a symlink whose target cannot be read
            self._skip(abs_path, f"cannot read: {exc.strerror}")
            return None
        if item is None:
            self._skip(abs_path, "an unknown kind of file (not stored)")
        return item

    def _skip(self, path: str, reason: str) -> None:
        if self.on_skip:
            self.on_skip(path, reason)

    def walk(self, top: str, top_stat: os.stat_result) -> Iterator[ScanItem]:
        parents = []
        parent = os.path.dirname(top)
        while parent != "/":
            parents.append(parent)
            parent = os.path.dirname(parent)
        for parent in reversed(parents):
            item = self.item(parent, os.lstat(parent))
            if item is not None:
                yield item
        item = self.item(top, top_stat)
        if item is None:
            return
        if item.rel:  # "/" itself is not stored
            yield item
        if item.type is not EntryType.DIR:
            return
        # one (directory, iterator over its sorted child names) per open directory
        stack = [(top, iter(self.children(top)))]
        while stack:
            directory, names = stack[-1]
            name = next(names, None)
            if name is None:
                stack.pop()
                continue
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except FileNotFoundError:  # removed since its directory was listed
                self._skip(path, "vanished during the backup")
                continue
            except OSError as exc:  # e.g. a directory readable but not searchable
                self._skip(path, f"cannot examine: {exc.strerror}")
                continue
            item = self.item(path, st)
            if item is None:
                continue
            yield item
            if item.type is EntryType.DIR and self.filter.descend(st.st_dev, top_stat.st_dev):
                stack.append((path, iter(self.children(path))))

    def children(self, directory: str) -> list[str]:
        try:
            names = sorted(os.listdir(directory), key=_name_key)
            return self.filter.keep_children(directory, names)
        except OSError as exc:  # stored as an empty directory, and reported
            self._skip(directory, f"cannot list: {exc.strerror}")
            return []
