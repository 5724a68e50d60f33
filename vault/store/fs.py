"""Filesystem chunk store: one read-only file per blob under a two-level fan-out.

Layout under ``root``::

    data/3f/a2/3fa2…(64 hex digits)   one blob, mode 0444
    tmp/                              blobs being written; anything here at open is stale

A put writes the blob to ``tmp/``, fsyncs it, links it into place with ``os.link`` (which
fails if the name exists, so a stored blob is never replaced, even by a racing put), unlinks
the temporary name and fsyncs every directory whose entries changed.

One process at a time: opening a store takes an exclusive ``flock`` on ``root/LOCK`` (which
names the holder's pid) and only then deletes what ``tmp/`` holds (leftovers of a crash,
never another process's in-flight writes); a second opener, in this process or another,
gets a ``StorageError`` naming the holder. ``close()`` releases it; so does the process's
exit, however it ends.

A batch (one PutChunks message) is made durable as a whole: its blobs are written and
fsynced by ``SYNC_THREADS`` threads at once, then linked, then the touched directories are
fsynced the same way, and only then does the batch return (and the vault acknowledge it).
Concurrent fsyncs share the file system's journal commits: on ext4 this cut the cost of a
20,000-file batch upload from ~1.0 to ~0.45 ms per blob (issue #6).
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import stat
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bulwark.vault.durable import fsync_dir
from bulwark.vault.errors import NotFound, StorageError, short_id
from bulwark.vault.store.base import ID_SIZE, ChunkStore, Item

_HEX = frozenset("0123456789abcdef")
log = logging.getLogger(__name__)

# linux/fs.h: the inode flags ioctls and the immutable flag (chattr +i)
FS_IOC_GETFLAGS = 0x80086601
FS_IOC_SETFLAGS = 0x40086602
FS_IMMUTABLE_FL = 0x00000010
CAP_LINUX_IMMUTABLE = 9
_UNSUPPORTED = (errno.ENOTTY, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)


def has_immutable_capability() -> bool:
    """Whether this process holds CAP_LINUX_IMMUTABLE (needed to set or clear ``+i``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) >> CAP_LINUX_IMMUTABLE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def is_immutable(path: Path) -> bool:
    """Whether ``path`` carries the immutable attribute (``OSError`` if it cannot be read)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
        return bool(int.from_bytes(buf[:4], "little") & FS_IMMUTABLE_FL)
    finally:
        os.close(fd)


def set_immutable(path: Path, on: bool) -> None:
    """Set or clear the immutable attribute of ``path`` (``OSError`` if refused)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    try:
        buf = bytearray(8)
        fcntl.ioctl(fd, FS_IOC_GETFLAGS, buf)
        flags = int.from_bytes(buf[:4], "little")
        wanted = flags | FS_IMMUTABLE_FL if on else flags & ~FS_IMMUTABLE_FL
        if wanted != flags:
            fcntl.ioctl(fd, FS_IOC_SETFLAGS, wanted.to_bytes(4, "little") + bytes(4))
    finally:
        os.close(fd)

#: fsyncs in flight at once per store; they block in the kernel, not on the GIL
SYNC_THREADS = 8


LOCK_NAME = "LOCK"


def take_lock(root: Path) -> int:
    """Open ``root/LOCK`` and hold an exclusive flock on it; StorageError if another holds it.
    The S3 store takes it on its local state folder (vault.store.s3_records)."""
    path = root / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise StorageError(
            f"store {root} is in use by another vaultd (pid {holder} holds {path}); "
            "two vaultd processes must never share a store: stop the other one first",
            errno.EWOULDBLOCK,
        ) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


class FilesystemStore(ChunkStore):
    """Chunk store rooted at ``root`` (created if missing).

    ``immutable``: set the immutable attribute on every new blob when the process has
    CAP_LINUX_IMMUTABLE and the file system supports it (``self.immutable`` says whether it
    is in effect); allowed deletes clear it first.
    """

    def __init__(self, root: Path, immutable: bool = True) -> None:
        self.root = Path(root)
        self._can_unseal = has_immutable_capability()
        self.immutable = immutable and self._can_unseal
        self._data = self.root / "data"
        self._tmp = self.root / "tmp"
        self._sync_pool: ThreadPoolExecutor | None = None
        self._pool_lock = threading.Lock()
        self._lock_fd: int | None = None
        try:
            self.root.mkdir(mode=0o700, exist_ok=True)
            self._lock_fd = take_lock(self.root)
            for d in (self._data, self._tmp):
                d.mkdir(mode=0o700, exist_ok=True)
            self._clean_tmp()
        except OSError as exc:
            self.close()
            raise StorageError.from_os(f"open store {self.root}", exc) from exc

    def close(self) -> None:
        """Release the store's lock (idempotent); the object must not be used after."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the only descriptor drops the flock
        if self._sync_pool is not None:
            self._sync_pool.shutdown(wait=True)
            self._sync_pool = None

    def _clean_tmp(self) -> None:
        """Remove leftovers of puts interrupted by a crash (never linked, so never visible)."""
        for entry in os.scandir(self._tmp):
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                os.unlink(entry.path)

    def path_of(self, chunk_id: bytes) -> Path:
        """Where the blob for ``chunk_id`` lives (whether or not it exists)."""
        h = chunk_id.hex()
        return self._data / h[0:2] / h[2:4] / h

    def _ensure_parent(self, final: Path, dirty: set[Path]) -> None:
        """Create the fan-out directories for ``final``; mark parents whose entries changed."""
        for d in (final.parent.parent, final.parent):
            if not d.is_dir():
                try:
                    d.mkdir(mode=0o700)
                except FileExistsError:
                    pass
                dirty.add(d.parent)

    def _write_tmp(self, data: bytes) -> str:
        fd, tmp = tempfile.mkstemp(dir=self._tmp, suffix=".tmp")
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
            os.fchmod(fd, 0o444)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
        os.close(fd)
        return tmp

    def _concurrently(self, fn: Callable[[object], object], args: Iterable) -> list:
        """``[fn(a) for a in args]`` on the sync threads; waits for all, then raises the
        first error (so no call is still running when the caller cleans up)."""
        args = list(args)
        if len(args) <= 1:
            return [fn(a) for a in args]
        with self._pool_lock:
            if self._sync_pool is None:
                self._sync_pool = ThreadPoolExecutor(SYNC_THREADS, thread_name_prefix="fsync")
        futures = [self._sync_pool.submit(fn, a) for a in args]
        errors = [f.exception() for f in futures]
        for exc in errors:
            if exc is not None:
                raise exc
        return [f.result() for f in futures]

    def _store_verified(self, items: Sequence[Item]) -> list[bool]:
        results: list[bool] = []
        dirty: set[Path] = set()
        seen: set[bytes] = set()
        new: list[tuple[int, bytes, bytes]] = []  # (index in results, id, data)
        for chunk_id, data, _digest in items:
            if chunk_id in seen or self.path_of(chunk_id).exists():
                results.append(False)
                continue
            seen.add(chunk_id)
            new.append((len(results), chunk_id, data))
            results.append(True)
        written: list[str] = []  # every temporary file, also those of a failed batch

        def write(item: tuple[int, bytes, bytes]) -> str:
            tmp = self._write_tmp(item[2])
            written.append(tmp)
            return tmp

        try:
            try:
                tmps = self._concurrently(write, new)
            except OSError as exc:
                raise StorageError.from_os("write chunks", exc) from exc
            for (index, chunk_id, _), tmp in zip(new, tmps, strict=True):
                final = self.path_of(chunk_id)
                try:
                    self._ensure_parent(final, dirty)
                    os.link(tmp, final)
                    dirty.add(final.parent)
                except FileExistsError:
                    results[index] = False  # a concurrent put won; its blob stays
                except OSError as exc:
                    raise StorageError.from_os(f"write chunk {short_id(chunk_id)}", exc) from exc
        finally:
            for tmp in written:
                try:
                    os.unlink(tmp)
                except FileNotFoundError:
                    pass
        try:
            self._concurrently(fsync_dir, dirty)
        except OSError as exc:
            raise StorageError.from_os("fsync directories", exc) from exc
        return results

    def get(self, chunk_id: bytes) -> bytes:
        try:
            return self.path_of(chunk_id).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"chunk {short_id(chunk_id)}: not in the store") from None
        except OSError as exc:
            raise StorageError.from_os(f"read chunk {short_id(chunk_id)}", exc) from exc

    def has(self, chunk_id: bytes) -> bool:
        return self.path_of(chunk_id).is_file()

    def _seal(self, chunk_ids: Sequence[bytes]) -> None:
        """Set the immutable attribute on new blobs (defence in depth, docs/worm.md): not
        even root can then modify, rename or unlink them without clearing it first."""
        if not self.immutable:
            return
        for chunk_id in chunk_ids:
            try:
                set_immutable(self.path_of(chunk_id), True)
            except OSError as exc:
                if exc.errno not in _UNSUPPORTED:
                    raise StorageError.from_os(f"seal chunk {short_id(chunk_id)}", exc) from exc
                self.immutable = False
                log.warning("store %s: the file system does not support the immutable "
                            "attribute (%s); blobs are read-only (0444) only",
                            self.root, exc.strerror)
                return

    def _delete(self, chunk_id: bytes) -> None:
        final = self.path_of(chunk_id)
        try:
            if self._can_unseal:
                try:
                    set_immutable(final, False)
                except OSError as exc:
                    if exc.errno not in _UNSUPPORTED:
                        raise
            os.unlink(final)
            fsync_dir(final.parent)
        except FileNotFoundError:
            raise NotFound(f"chunk {short_id(chunk_id)}: not in the store") from None
        except OSError as exc:
            raise StorageError.from_os(f"delete chunk {short_id(chunk_id)}", exc) from exc

    def iter_ids(self) -> Iterator[bytes]:
        for top in sorted(os.scandir(self._data), key=lambda e: e.name):
            if not top.is_dir():
                continue
            for mid in sorted(os.scandir(top.path), key=lambda e: e.name):
                if not mid.is_dir():
                    continue
                for entry in os.scandir(mid.path):
                    name = entry.name
                    if len(name) == 2 * ID_SIZE and set(name) <= _HEX and entry.is_file():
                        yield bytes.fromhex(name)

    def size(self, chunk_id: bytes) -> int:
        try:
            st = os.stat(self.path_of(chunk_id))
        except FileNotFoundError:
            raise NotFound(f"chunk {short_id(chunk_id)}: not in the store") from None
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(f"chunk {short_id(chunk_id)}: not a regular file in the store")
        return st.st_size
