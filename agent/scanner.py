"""Walks the paths given to a backup and lists what to store, in manifest order.

Paths are kept as given, made absolute (as restic does): backing up ``/data/ckpt``
stores ``data``, ``data/ckpt`` and everything under it, so a restore into ``/tmp/r``
recreates ``/tmp/r/data/ckpt/...``. Symlinks are stored, never followed. Sockets,
FIFOs and device files are skipped and reported, never stored.
"""

from __future__ import annotations

import fnmatch
import os
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from agent.errors import ConfigError
from agent.manifest import EntryType, path_sort_key


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

    @property
    def abs(self) -> str:
        """The absolute path on this machine (``rel`` is it without the leading '/')."""
        return "/" + self.rel


def _item(abs_path: str, st: os.stat_result) -> ScanItem | None:
    if stat.S_ISDIR(st.st_mode):
        kind = EntryType.DIR
    elif stat.S_ISREG(st.st_mode):
        kind = EntryType.FILE
    elif stat.S_ISLNK(st.st_mode):
        kind = EntryType.SYMLINK
    else:
        return None
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
    )


def scan(paths: Iterable[str], on_skip: Callable[[str, str], None] | None = None,
         exclude: Iterable[str] = ()) -> list[ScanItem]:
    """Return every object under ``paths`` (and their parent directories), sorted.

    ``on_skip(path, reason)`` is told about objects that are not stored. A path that
    does not exist raises ConfigError (exit 2): nothing is backed up. ``exclude`` holds
    glob patterns (fnmatch, ``*`` also crosses ``/``) matched against each absolute path
    and its base name; an excluded directory is not descended into.
    """
    found: dict[str, ScanItem] = {}
    patterns = tuple(exclude)

    def add(abs_path: str, st: os.stat_result) -> ScanItem | None:
        if patterns and any(fnmatch.fnmatchcase(abs_path, p)
                            or fnmatch.fnmatchcase(os.path.basename(abs_path), p)
                            for p in patterns):
            return None
        item = _item(abs_path, st)
        if item is None:
            if on_skip:
                on_skip(abs_path, "not a regular file, directory or symlink")
        elif item.rel:
            found[item.rel] = item
        return item

    for given in paths:
        top = os.path.abspath(given)
        try:
            top_stat = os.lstat(top)
        except FileNotFoundError:
            raise ConfigError(f"backup path {given!r} does not exist") from None
        parent = os.path.dirname(top)
        while parent != "/":
            add(parent, os.lstat(parent))
            parent = os.path.dirname(parent)
        item = add(top, top_stat)
        if item is not None and item.type is EntryType.DIR:
            _walk(top, add, on_skip)
    return sorted(found.values(), key=lambda i: path_sort_key(i.rel))


def _walk(
    top: str,
    add: Callable[[str, os.stat_result], ScanItem | None],
    on_skip: Callable[[str, str], None] | None,
) -> None:
    stack = [top]
    while stack:
        directory = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            if on_skip:
                on_skip(directory, f"cannot list: {exc.strerror}")
            continue
        for entry in entries:
            st = entry.stat(follow_symlinks=False)
            item = add(entry.path, st)
            if item is not None and item.type is EntryType.DIR:
                stack.append(entry.path)
