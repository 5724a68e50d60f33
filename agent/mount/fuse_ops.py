"""The FUSE adapter: the view (``mount.tree``) served read-only through libfuse (mfusepy,
ctypes bindings for libfuse 2 and 3).

Every call that would change anything answers EROFS, and the mount itself is read-only
(``-o ro``), so the kernel refuses writes before they arrive. Owners, modes and mtimes are
the manifest's (a made-up folder: 0555, the caller's owner, the snapshot's time); a device
node, FIFO or socket is shown with its type and no content. A read that meets a damaged
chunk answers EIO and is logged; other files stay readable.

Importing this module loads libfuse: ``vaultctl mount`` imports it only when it mounts and
turns a missing library into a clear error.
"""

from __future__ import annotations

import errno
import itertools
import logging
import os
import stat
import threading
from collections.abc import Callable

import mfusepy

from bulwark.agent.errors import AgentError
from bulwark.agent.format.manifest import EntryType
from bulwark.agent.mount.cache import ChunkCache
from bulwark.agent.mount.tree import FOLDER, LINK, FileLayout, Node, View

log = logging.getLogger(__name__)

_TYPE_BITS = {
    EntryType.DIR: stat.S_IFDIR, EntryType.FILE: stat.S_IFREG, EntryType.SYMLINK: stat.S_IFLNK,
    EntryType.FIFO: stat.S_IFIFO, EntryType.SOCKET: stat.S_IFSOCK,
    EntryType.CHAR_DEVICE: stat.S_IFCHR, EntryType.BLOCK_DEVICE: stat.S_IFBLK,
}
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC


def _refuse(*_args, **_kwargs):
    raise mfusepy.FuseOSError(errno.EROFS)


class ReadOnlyView(mfusepy.Operations):
    """libfuse callbacks over a :class:`View`; file content from a :class:`ChunkCache`.
    ``ready`` is called once libfuse has mounted (``init``)."""

    use_ns = True  # times in nanoseconds, as the manifest keeps them

    def __init__(self, view: View, cache: ChunkCache, ready: Callable[[], None] = lambda: None):
        self.view = view
        self.cache = cache
        self._ready = ready
        self._open: dict[int, FileLayout] = {}
        self._handles = itertools.count(1)
        self._lock = threading.Lock()
        self._uid, self._gid = os.getuid(), os.getgid()

    def init(self, path):
        self._ready()

    def _node(self, path: str) -> Node:
        try:
            node = self.view.node(path.strip("/"))
        except AgentError as exc:  # a manifest that could not be opened
            log.error("%s: %s", path, exc)
            raise mfusepy.FuseOSError(errno.EIO) from None
        if node is None:
            raise mfusepy.FuseOSError(errno.ENOENT)
        return node

    def getattr(self, path, fh=None):
        node = self._node(path)
        if node.kind == FOLDER:
            t = node.time_ns
            return {"st_mode": stat.S_IFDIR | 0o555, "st_nlink": 2, "st_uid": self._uid,
                    "st_gid": self._gid, "st_mtime": t, "st_ctime": t, "st_atime": t}
        if node.kind == LINK:
            t = node.time_ns
            return {"st_mode": stat.S_IFLNK | 0o777, "st_nlink": 1, "st_size": len(node.target),
                    "st_uid": self._uid, "st_gid": self._gid, "st_mtime": t, "st_ctime": t,
                    "st_atime": t}
        e = node.entry
        assert e is not None
        size = e.size if e.type is EntryType.FILE else len(
            e.link_target.encode("utf-8", "surrogateescape"))
        return {"st_mode": _TYPE_BITS[e.type] | e.mode, "st_nlink": 1, "st_size": size,
                "st_uid": self._uid if e.uid is None else e.uid,
                "st_gid": self._gid if e.gid is None else e.gid,
                "st_mtime": e.mtime_ns, "st_ctime": e.mtime_ns, "st_atime": e.mtime_ns,
                "st_rdev": os.makedev(*e.device), "st_blocks": (size + 511) // 512}

    def readdir(self, path, fh):
        node = self._node(path)
        if node.kind != FOLDER and (node.entry is None or node.entry.type is not EntryType.DIR):
            raise mfusepy.FuseOSError(errno.ENOTDIR)
        return [".", "..", *self.view.children(path.strip("/"))]

    def readlink(self, path):
        node = self._node(path)
        if node.kind == LINK:
            return node.target
        if node.entry is not None and node.entry.type is EntryType.SYMLINK:
            return node.entry.link_target
        raise mfusepy.FuseOSError(errno.EINVAL)

    def open(self, path, flags):
        if flags & _WRITE_FLAGS:
            raise mfusepy.FuseOSError(errno.EROFS)
        node = self._node(path)
        if node.entry is None or node.entry.type is not EntryType.FILE:
            raise mfusepy.FuseOSError(errno.EISDIR if node.kind == FOLDER else errno.EACCES)
        with self._lock:
            fh = next(self._handles)
            self._open[fh] = FileLayout(node.entry)
        return fh

    def read(self, path, size, offset, fh):
        layout = self._open.get(fh)
        if layout is None:
            raise mfusepy.FuseOSError(errno.EBADF)
        out = bytearray()
        try:
            for i, a, b in layout.pieces(offset, size):
                out += self.cache.get(layout.entry.chunks[i])[a:b]
        except AgentError as exc:
            log.error("%s: %s", path, exc)
            raise mfusepy.FuseOSError(errno.EIO) from None
        return bytes(out)

    def release(self, path, fh):
        with self._lock:
            self._open.pop(fh, None)
        return 0

    def statfs(self, path):
        return {"f_bsize": 4096, "f_frsize": 4096, "f_namemax": 255}

    # Everything that would change the view.
    write = create = mkdir = mknod = unlink = rmdir = symlink = link = rename = _refuse
    chmod = chown = truncate = utimens = setxattr = removexattr = _refuse


def mount(view: View, cache: ChunkCache, mountpoint: str,
          ready: Callable[[], None] = lambda: None) -> None:
    """Serve ``view`` at ``mountpoint`` until it is unmounted (``fusermount -u``, ``umount``)
    or the process gets SIGINT/SIGTERM (libfuse unmounts then). Blocks."""
    mfusepy.FUSE(ReadOnlyView(view, cache, ready), mountpoint, foreground=True, ro=True,
                 fsname="bulwark", subtype="bulwark", default_permissions=True)
