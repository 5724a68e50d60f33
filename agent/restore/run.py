"""Restores a snapshot (or one path of it) under a target folder, safely.

Safety contract: nothing is written outside ``target``. Every manifest path is
validated before the first write (a first pass over the whole manifest that writes
nothing; the restore itself is a second pass), parents are re-checked against
symlink escapes just before each write, files are created with O_EXCL|O_NOFOLLOW under
a temporary name and renamed into place only after their content hash matched, so a
damaged file never appears under its real name. A damaged chunk fails only the files
that use it; the others are restored and the run reports the failures (exit 1).

Memory does not grow with the number of files (issue #6): the manifest is streamed from
its spool (``snapshot_reader.fetch_manifest``) in both passes; only the directories are
kept, to set their modes and times at the end (after their contents were written).
"""

from __future__ import annotations

import itertools
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import IntegrityError, SnapshotNotFound, UnsafePathError
from bulwark.agent.format.constants import CHUNK_MAX
from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType
from bulwark.agent.format.pathsafe import check_manifest_path, ensure_within, target_path
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.restore.fetcher import fetch_plaintext
from bulwark.agent.restore.reader import Manifest, fetch_manifest, open_snapshot

ProgressCallback = Callable[[int, int, str], None]

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass
class RestoreResult:
    snapshot: str
    files: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {
            "snapshot": self.snapshot,
            "files": self.files,
            "bytes": self.bytes,
            "duration_s": round(self.duration_s, 3),
            "failed": [{"path": p, "error": e} for p, e in self.failed],
        }


def select(entries: Iterable[Entry], subpath: str | None) -> Iterator[Entry]:
    """Entries at or under ``subpath`` (as backed up, with or without a leading '/'),
    plus the directories above it; all entries when ``subpath`` is None. Raises
    SnapshotNotFound once ``entries`` is exhausted if ``subpath`` was not among them."""
    wanted = (subpath or "").strip("/")
    if not wanted:
        yield from entries
        return
    check_manifest_path(wanted)
    found = False
    for e in entries:
        if e.path == wanted:
            found = True
        if e.path == wanted or e.path.startswith(wanted + "/") or wanted.startswith(e.path + "/"):
            yield e
    if not found:
        raise SnapshotNotFound(f"path {subpath!r} is not in this snapshot")


def _temp_name(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.restore-{secrets.token_hex(4)}")


def _make_dir(target: Path, dest: Path) -> None:
    ensure_within(target, dest)
    if dest.is_symlink():
        raise UnsafePathError(f"{dest}: a symlink stands where the snapshot has a directory")
    if not dest.is_dir():
        os.mkdir(dest, 0o700)


def _is_zeros(data: bytes) -> bool:
    return not data[:1] or (data[0] == 0 and data[-1] == 0 and data == _zeros(len(data)))


def _zeros(n: int) -> bytes:
    global _ZEROS
    if len(_ZEROS) < n:
        _ZEROS = bytes(max(n, CHUNK_MAX))
    return _ZEROS if len(_ZEROS) == n else _ZEROS[:n]


_ZEROS = b""


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _write_file(
    target: Path, dest: Path, entry: Entry,
    chunks: Iterator[tuple[ChunkRef, bytes | IntegrityError]],
    on_bytes: Callable[[int], None],
) -> str | None:
    """Write one file from ``chunks``; returns an error text instead of raising for
    damaged data (after consuming exactly ``len(entry.chunks)`` items).

    Each chunk is one write() (chunks are up to CHUNK_MAX, so no buffer is needed); an
    all-zero chunk becomes a hole (a seek), and the file is cut to length at the end.
    The content hash covers the zeros as any other bytes. A packed small file writes its
    slice (``entry.offset``, ``entry.size``) of its one chunk."""
    ensure_within(target, dest)
    tmp = _temp_name(dest)
    error: str | None = None
    hasher = blake3.blake3(max_threads=1)
    renamed = False
    fd = os.open(tmp, _WRITE_FLAGS, 0o600)
    try:
        size, hole = 0, False
        skip, left = entry.offset, entry.size  # validated: offset > 0 only with one chunk
        for _ in entry.chunks:
            _ref, plain = next(chunks)
            if error is not None:
                continue
            if isinstance(plain, IntegrityError):
                error = str(plain)
                continue
            if skip or len(plain) > left:
                plain = memoryview(plain)[skip : skip + left]
                skip = 0
            left -= len(plain)
            hasher.update(plain)
            hole = _is_zeros(plain)
            if hole:
                os.lseek(fd, len(plain), os.SEEK_CUR)
            else:
                _write_all(fd, plain)
            size += len(plain)
            on_bytes(len(plain))
        if error is None and hasher.digest() != entry.content_hash:
            error = "content hash does not match the manifest"
        if error is None:
            if hole:
                os.ftruncate(fd, size)
            os.fchmod(fd, entry.mode)
            os.utime(fd, ns=(entry.mtime_ns, entry.mtime_ns))
            if dest.is_dir() and not dest.is_symlink():
                raise UnsafePathError(f"{dest}: a directory stands where the snapshot has a file")
            os.rename(tmp, dest)
            renamed = True
    finally:
        os.close(fd)
        if not renamed:
            tmp.unlink(missing_ok=True)
    return error


def _make_symlink(target: Path, dest: Path, entry: Entry) -> None:
    ensure_within(target, dest)
    tmp = _temp_name(dest)
    os.symlink(entry.link_target, tmp)
    os.utime(tmp, ns=(entry.mtime_ns, entry.mtime_ns), follow_symlinks=False)
    os.rename(tmp, dest)


def run_restore(
    client: VaultClient,
    keyring: KeyRing,
    ref: str,
    target: Path,
    subpath: str | None,
    workers: int,
    on_progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore snapshot ``ref`` under ``target``.

    Key, signature and manifest problems raise before anything is written. Damaged
    chunks are reported in ``RestoreResult.failed``; the caller turns that into exit 1.
    """
    started = time.monotonic()
    snapshot = open_snapshot(client, keyring, ref)
    with fetch_manifest(client, snapshot, workers) as manifest:
        result = restore_manifest(client, snapshot.info.id, manifest, target, subpath,
                                  workers, on_progress)
    result.duration_s = time.monotonic() - started
    return result


def restore_manifest(
    client: VaultClient,
    snapshot_id: str,
    manifest: Manifest,
    target: Path,
    subpath: str | None,
    workers: int,
    on_progress: ProgressCallback | None = None,
) -> RestoreResult:
    """Restore from a manifest already fetched and authenticated (``fetch_manifest``), as
    :func:`run_restore` does; a drill uses it to fetch the manifest once for the restore and
    its own checks. ``duration_s`` is left to the caller."""
    # pass 1, nothing written: every entry valid, the subpath present, the total size
    total = sum(e.size for e in select(manifest.entries(), subpath) if e.type is EntryType.FILE)
    result = RestoreResult(snapshot_id)
    _restore(client, select(manifest.entries(), subpath), target, total, workers,
             on_progress, result)
    return result


def _restore(
    client: VaultClient,
    entries: Iterator[Entry],
    target: Path,
    total: int,
    workers: int,
    on_progress: ProgressCallback | None,
    result: RestoreResult,
) -> None:
    """Pass 2: create ``entries`` (validated by pass 1) under ``target``, in order, and
    count what was restored or failed in ``result``."""
    done = 0
    current = ""

    def on_bytes(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, total, current)

    target.mkdir(parents=True, exist_ok=True)
    target = target.resolve()
    # The fetcher reads refs ahead of the writer (a few batches): tee holds the entries between.
    ahead, entries = itertools.tee(entries)
    files_ahead = (e for e in ahead if e.type is EntryType.FILE)
    chunks = fetch_plaintext(client, (c for e in files_ahead for c in e.chunks), workers)
    directories: list[Entry] = []
    for entry in entries:
        dest = target_path(target, entry.path)
        current = entry.path
        if entry.type is EntryType.DIR:
            _make_dir(target, dest)
            directories.append(entry)
        elif entry.type is EntryType.SYMLINK:
            _make_symlink(target, dest, entry)
        else:
            error = _write_file(target, dest, entry, chunks, on_bytes)
            if error is None:
                result.files += 1
                result.bytes += entry.size
            else:
                result.failed.append(("/" + entry.path, error))
    for entry in reversed(directories):
        dest = target_path(target, entry.path)
        os.chmod(dest, entry.mode)
        os.utime(dest, ns=(entry.mtime_ns, entry.mtime_ns))
