"""What a restore does where something already exists: the ``--overwrite`` rule.

One decision per manifest entry, made before any of its bytes are fetched (so files that
are kept cost no download), from the entry and what stands at its place in the target:

================  =====================================================================
``never``         the default: nothing that exists is replaced. A restore into an empty
                  target is unaffected, a second run changes nothing, and local edits
                  are never lost by surprise; what was kept is reported (``kept``).
``if-changed``    replace what differs from the snapshot (type, size, content hash,
                  link target, device numbers); identical files are not rewritten.
``if-newer``      replace only where the snapshot's mtime is newer than the local one.
``always``        replace every non-directory (restic's default).
================  =====================================================================

Directories are merged, never replaced by a file: where the snapshot has a file and a
directory stands, the entry fails with a clear error whatever the rule (deleting a tree
is what ``--delete`` is for). Where the snapshot has a directory and a non-directory
stands, only ``always`` replaces it; otherwise the directory and everything below it fail.
"""

from __future__ import annotations

import enum
import os
import stat
from dataclasses import dataclass

import blake3

from bulwark.agent.format.manifest import DEVICE_TYPES, Entry, EntryType


class Overwrite(enum.Enum):
    NEVER = "never"
    IF_CHANGED = "if-changed"
    IF_NEWER = "if-newer"
    ALWAYS = "always"


DEFAULT = Overwrite.NEVER


class Action(enum.Enum):
    CREATE = "create"        # nothing there
    REPLACE = "replace"      # something there, replaced by the rule
    MERGE = "merge"          # a directory there, kept; the snapshot's contents go into it
    UNCHANGED = "unchanged"  # the same thing is already there
    KEEP = "keep"            # something different there, kept by the rule
    CONFLICT = "conflict"    # cannot be restored here (the reason says why)
    LINK = "link"            # another name of a file restored in this run: a hard link

    @property
    def writes(self) -> bool:
        return self in (Action.CREATE, Action.REPLACE, Action.LINK)


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""


_TYPES = {
    stat.S_IFDIR: EntryType.DIR,
    stat.S_IFREG: EntryType.FILE,
    stat.S_IFLNK: EntryType.SYMLINK,
    stat.S_IFIFO: EntryType.FIFO,
    stat.S_IFSOCK: EntryType.SOCKET,
    stat.S_IFCHR: EntryType.CHAR_DEVICE,
    stat.S_IFBLK: EntryType.BLOCK_DEVICE,
}

_NAMES = {
    EntryType.DIR: "a directory", EntryType.FILE: "a file", EntryType.SYMLINK: "a symlink",
    EntryType.FIFO: "a FIFO", EntryType.SOCKET: "a socket",
    EntryType.CHAR_DEVICE: "a character device", EntryType.BLOCK_DEVICE: "a block device",
}


def kind_name(kind: EntryType | None) -> str:
    return _NAMES.get(kind, "something else") if kind else "something else"


def existing(path: os.PathLike | str) -> os.stat_result | None:
    """``lstat`` of what stands at ``path``, or None (nothing, or a parent is missing)."""
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def decide(rule: Overwrite, entry: Entry, dest: os.PathLike | str,
           st: os.stat_result | None) -> Decision:
    """The action for ``entry`` at ``dest``, where ``st`` is ``existing(dest)``."""
    if st is None:
        return Decision(Action.CREATE)
    here = _TYPES.get(stat.S_IFMT(st.st_mode))
    if entry.type is EntryType.DIR:
        if here is EntryType.DIR:
            return Decision(Action.MERGE)
        if rule is Overwrite.ALWAYS:
            return Decision(Action.REPLACE)
        return Decision(Action.CONFLICT, f"{kind_name(here)} stands where the snapshot has a "
                        f"directory (only --overwrite always replaces it)")
    if here is EntryType.DIR:
        return Decision(Action.CONFLICT, f"a directory stands where the snapshot has "
                        f"{kind_name(entry.type)} (a directory is never replaced; "
                        "remove it, or restore elsewhere)")
    if rule is Overwrite.ALWAYS:
        return Decision(Action.REPLACE)
    if rule is Overwrite.IF_NEWER:
        newer = entry.mtime_ns > st.st_mtime_ns
        return Decision(Action.REPLACE if newer else Action.KEEP,
                        "" if newer else "the local one is as new or newer")
    same = same_as(entry, dest, st)
    if same:
        return Decision(Action.UNCHANGED)
    if rule is Overwrite.IF_CHANGED:
        return Decision(Action.REPLACE)
    return Decision(Action.KEEP, "exists and differs; not replaced (--overwrite never)")


def same_as(entry: Entry, dest: os.PathLike | str, st: os.stat_result) -> bool:
    """Whether what stands at ``dest`` is what ``entry`` describes (type, and content,
    link target or device numbers; not metadata). A file's content is hashed."""
    here = _TYPES.get(stat.S_IFMT(st.st_mode))
    if here is not entry.type:
        return False
    if here is EntryType.SYMLINK:
        return os.readlink(dest) == entry.link_target
    if here in DEVICE_TYPES:
        return (os.major(st.st_rdev), os.minor(st.st_rdev)) == entry.device
    if here is not EntryType.FILE:
        return True
    if st.st_size != entry.size:
        return False
    return file_hash(dest) == entry.content_hash


def file_hash(path: os.PathLike | str) -> bytes | None:
    """BLAKE3-256 of the regular file at ``path`` (not following a symlink), or None if it
    cannot be read."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    try:
        with os.fdopen(fd, "rb", buffering=0) as f:
            while block := f.read(1 << 20):
                hasher.update(block)
    except OSError:
        return None
    return hasher.digest()
