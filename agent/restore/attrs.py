"""Recreating what a manifest entry says besides content: special files and metadata.

What is restored (README "What a snapshot keeps"):

- FIFOs and sockets (``mknod``, any user); character and block devices where the restorer
  may create them (``CAP_MKNOD``); otherwise the entry is reported, not failed.
- Owner and group when the restore runs as root and the manifest recorded them (older
  manifests did not); an owner root may not give (no ``CAP_CHOWN``) is reported. An
  unprivileged restore leaves files owned by the restorer, as tar; :func:`owner_left` says
  which entries that changed, so the restore can count them.
- Permission bits, after the owner (``chown`` clears set-id bits).
- Extended attributes (ACLs and ``security.capability`` included), after owner and mode:
  ``chown`` drops a capability and a POSIX access ACL must win over the group bits.
  Attributes the target refuses (no support, not permitted) are reported, not failed.
- The mtime (nanoseconds), last; atime is set to it, ctime cannot be set.

Every function works on the temporary name or descriptor before the object is renamed into
place, so a half-restored object is never visible under its real name.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable

from bulwark.agent.format.manifest import Entry, EntryType

#: report(reason): something of the entry could not be restored as in the snapshot
Report = Callable[[str], None]

_NODE_TYPES = {
    EntryType.FIFO: stat.S_IFIFO,
    EntryType.SOCKET: stat.S_IFSOCK,
    EntryType.CHAR_DEVICE: stat.S_IFCHR,
    EntryType.BLOCK_DEVICE: stat.S_IFBLK,
}


def make_node(path: os.PathLike | str, entry: Entry) -> bool:
    """Create the FIFO, socket or device node ``entry`` describes at ``path`` (mode 0600
    until :func:`apply` sets it). False if this restorer may not create device nodes."""
    try:
        os.mknod(path, _NODE_TYPES[entry.type] | 0o600, os.makedev(*entry.device))
    except PermissionError:
        if entry.type in (EntryType.CHAR_DEVICE, EntryType.BLOCK_DEVICE):
            return False
        raise
    return True


def owner_left(entry: Entry) -> bool:
    """True when the snapshot names an owner this restorer may not give (it is not root)
    and the restored entry belongs to the restorer instead."""
    euid = os.geteuid()
    return (euid != 0 and entry.uid is not None
            and (entry.uid, entry.gid if entry.gid is not None else os.getegid())
            != (euid, os.getegid()))


def apply(target: int | os.PathLike | str, entry: Entry, report: Report) -> None:
    """Set owner, mode, xattrs and mtime of ``target`` (a descriptor of a file being
    written, or the path of a node or directory; a symlink gets owner, xattrs and mtime)."""
    follow = entry.type is not EntryType.SYMLINK
    if entry.uid is not None and os.geteuid() == 0:
        try:
            os.chown(target, entry.uid, entry.gid if entry.gid is not None else -1,
                     **({} if isinstance(target, int) else {"follow_symlinks": False}))
        except PermissionError as exc:  # root without CAP_CHOWN (a container, a unit)
            report(f"owner {entry.uid}:{entry.gid} not restored: {exc.strerror}")
    if follow:
        os.chmod(target, entry.mode)
    for attr in entry.xattrs:
        name = os.fsdecode(attr.name)
        try:
            if isinstance(target, int):
                os.setxattr(target, name, attr.value)
            else:
                os.setxattr(target, name, attr.value, follow_symlinks=False)
        except OSError as exc:
            why = "not supported here" if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) \
                else exc.strerror
            report(f"extended attribute {name} not restored: {why}")
    times = (entry.mtime_ns, entry.mtime_ns)
    if isinstance(target, int):
        os.utime(target, ns=times)
    else:
        os.utime(target, ns=times, follow_symlinks=False)
