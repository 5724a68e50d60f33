"""Restores a snapshot (or one path of it) under a target folder, safely and predictably.

Safety contract: nothing is written outside ``target``. Every manifest path is
validated before the first write (a first pass over the whole manifest that writes
nothing; the restore itself is a second pass), parents are re-checked against
symlink escapes just before each write, and every object is created under a temporary
name (files with O_EXCL|O_NOFOLLOW) and renamed into place only when complete (a file
only after its content hash matched), so a damaged file never appears under its real
name. A damaged chunk fails only the files that use it; the others are restored and the
run reports the failures (exit 1).

Predictable (issue 13): what already exists in the target is handled by one rule,
``Options.overwrite`` (agent.restore.overwrite; default ``never``), decided per entry before
its bytes are fetched; ``delete`` removes what the restored directories hold and the
snapshot does not; ``dry_run`` decides everything and writes nothing; ``verify`` re-reads
each written file and checks its content hash. Special files, owners, xattrs and hard links
are recreated by agent.restore.attrs; what cannot be (a device node without CAP_MKNOD, an
attribute the target refuses) is reported in ``RestoreResult.skipped``, never dropped
silently.

Memory does not grow with the number of files (issue #6): the manifest is streamed from
its spool (``snapshot_reader.fetch_manifest``) in both passes; only the directories are
kept, to set their modes and times at the end (after their contents were written), plus,
with ``delete``, each restored directory's child names, and one path per hard-link group.
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import ConfigError, IntegrityError, SnapshotNotFound, UnsafePathError
from bulwark.agent.format.constants import CHUNK_MAX
from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType
from bulwark.agent.format.pathsafe import check_manifest_path, ensure_within, target_path
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.restore import attrs
from bulwark.agent.restore.fetcher import fetch_plaintext
from bulwark.agent.restore.overwrite import (
    DEFAULT,
    Action,
    Decision,
    Overwrite,
    decide,
    existing,
    file_hash,
)
from bulwark.agent.restore.reader import Manifest, fetch_manifest, open_snapshot

ProgressCallback = Callable[[int, int, str], None]

_WRITE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


@dataclass(frozen=True)
class Options:
    """How to treat what already exists in the target (module docstring)."""

    overwrite: Overwrite = DEFAULT
    delete: bool = False
    dry_run: bool = False
    verify: bool = False


@dataclass
class RestoreResult:
    """What a restore did. Paths are absolute as backed up (``/`` + manifest path)."""

    snapshot: str
    files: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # restored, but not all of it
    kept: list[tuple[str, str]] = field(default_factory=list)  # differs, left by the rule
    unchanged: int = 0
    deleted: list[str] = field(default_factory=list)
    verified: int = 0
    owners_not_set: int = 0  # an unprivileged restore: entries now owned by the restorer
    planned: list[tuple[str, str]] | None = None  # dry run: (path, action)

    def summary(self) -> dict[str, object]:
        """The ``--json`` object; paths in the text form of agent.format.pathtext."""
        out: dict[str, object] = {
            "snapshot": self.snapshot,
            "files": self.files,
            "bytes": self.bytes,
            "duration_s": round(self.duration_s, 3),
            "failed": [{"path": show_path(p), "error": e} for p, e in self.failed],
            "skipped": [{"path": show_path(p), "reason": r} for p, r in self.skipped],
            "kept": [{"path": show_path(p), "reason": r} for p, r in self.kept],
            "unchanged": self.unchanged,
            "deleted": [show_path(p) for p in self.deleted],
            "verified": self.verified,
            "owners_not_set": self.owners_not_set,
        }
        if self.planned is not None:
            out["dry_run"] = True
            out["actions"] = [{"path": show_path(p), "action": a} for p, a in self.planned]
        return out


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
    """A new name next to ``dest``, within NAME_MAX (255 bytes) however long ``dest``'s is."""
    tag = f".restore-{secrets.token_hex(4)}"
    name = dest.name if len(os.fsencode(dest.name)) <= 255 - 1 - len(tag) else ""
    return dest.with_name(f".{name}{tag}")


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
    on_bytes: Callable[[int], None], report: attrs.Report,
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
            attrs.apply(fd, entry, report)
            _place(tmp, dest)
            renamed = True
    finally:
        os.close(fd)
        if not renamed:
            tmp.unlink(missing_ok=True)
    return error


def _place(tmp: Path, dest: Path) -> None:
    """Rename ``tmp`` over ``dest``; never over a directory (the overwrite rule decided
    before, but the target may have changed since)."""
    if dest.is_dir() and not dest.is_symlink():
        raise IsADirectoryError(f"{dest}: a directory stands where the snapshot has a file")
    os.rename(tmp, dest)


def _make_other(target: Path, dest: Path, entry: Entry, report: attrs.Report,
                first_name: Path | None) -> bool:
    """Create a symlink, FIFO, socket or device node, or a hard link to ``first_name``;
    False if it was not created (reported)."""
    ensure_within(target, dest)
    tmp = _temp_name(dest)
    try:
        if first_name is not None:
            os.link(first_name, tmp)
            _place(tmp, dest)
            return True
        if entry.type is EntryType.SYMLINK:
            os.symlink(entry.link_target, tmp)
        elif not attrs.make_node(tmp, entry):
            report("device node not created: this restore may not create device nodes "
                   "(needs CAP_MKNOD)")
            return False
        attrs.apply(tmp, entry, report)
        _place(tmp, dest)
        return True
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


def _remove(path: Path) -> None:
    """Remove what stands at ``path`` (a directory with its contents; links not followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def run_restore(
    client: VaultClient,
    keyring: KeyRing,
    ref: str,
    target: Path,
    subpath: str | None,
    workers: int,
    on_progress: ProgressCallback | None = None,
    options: Options = Options(),
) -> RestoreResult:
    """Restore snapshot ``ref`` under ``target``.

    Key, signature and manifest problems raise before anything is written, and so does a
    ``target`` that exists and is not a directory (ConfigError). Damaged chunks and entries
    that cannot be restored where they are are reported in ``RestoreResult.failed``; the
    caller turns that into exit 1.
    """
    started = time.monotonic()
    snapshot = open_snapshot(client, keyring, ref)
    with fetch_manifest(client, snapshot, workers) as manifest:
        result = restore_manifest(client, snapshot.info.id, manifest, target, subpath,
                                  workers, on_progress, options)
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
    options: Options = Options(),
) -> RestoreResult:
    """Restore from a manifest already fetched and authenticated (``fetch_manifest``), as
    :func:`run_restore` does; a drill uses it to fetch the manifest once for the restore and
    its own checks. ``duration_s`` is left to the caller."""
    if os.path.lexists(target) and not os.path.isdir(target):
        raise ConfigError(f"restore target {target} exists and is not a directory")
    # pass 1, nothing written: every entry valid, the subpath present, the total size
    total = sum(e.size for e in select(manifest.entries(), subpath) if e.type is EntryType.FILE)
    result = RestoreResult(snapshot_id)
    if options.dry_run:
        result.planned = []
    _Restore(client, target, total, workers, on_progress, options, result).run(
        select(manifest.entries(), subpath), (subpath or "").strip("/"))
    return result


class _Restore:
    """Pass 2: decide, then create, the selected entries under the target, in order."""

    def __init__(self, client: VaultClient, target: Path, total: int, workers: int,
                 on_progress: ProgressCallback | None, options: Options,
                 result: RestoreResult) -> None:
        self.client = client
        self.target = target
        self.total = total
        self.workers = workers
        self.on_progress = on_progress
        self.options = options
        self.result = result
        self.done = 0
        self.current = ""
        self.blocked: list[str] = []  # directories the writer could not restore (a stack)
        self.failed_dirs: list[str] = []  # every directory not restored (planned or not)
        self.groups: dict[int, str] = {}  # link group -> first name planned for writing
        self.first_names: dict[int, Path] = {}  # link group -> first name written
        self.directories: list[tuple[Entry, bool]] = []  # (entry, set its metadata)
        self.children: dict[str, set[str]] = {}  # with delete: directory -> child names

    def on_bytes(self, n: int) -> None:
        self.done += n
        if self.on_progress:
            self.on_progress(self.done, self.total, self.current)

    def plan(self, entries: Iterable[Entry]) -> Iterator[tuple[Entry, Decision]]:
        """Each entry with its decision, made once, before the fetcher reads its chunks."""
        rule = self.options.overwrite
        blocked: list[str] = []  # directories in conflict, a stack along the current path
        for entry in entries:
            if _under_blocked(blocked, entry.path):
                yield entry, Decision(Action.CONFLICT, "its directory could not be restored")
                continue
            dest = target_path(self.target, entry.path)
            decision = decide(rule, entry, dest, existing(dest))
            if entry.type is EntryType.DIR and decision.action is Action.CONFLICT:
                blocked.append(entry.path)
                self.failed_dirs.append(entry.path)
            if entry.link_group and entry.type is EntryType.FILE and decision.action.writes:
                if entry.link_group in self.groups:
                    decision = Decision(Action.LINK)
                else:
                    self.groups[entry.link_group] = entry.path
            yield entry, decision

    def run(self, entries: Iterator[Entry], top: str) -> None:
        if not self.options.dry_run:
            self.target.mkdir(parents=True, exist_ok=True)
        self.target = self.target.resolve()
        planned = self.plan(entries)
        if self.options.dry_run:
            assert self.result.planned is not None
            for entry, decision in planned:
                self.note(entry, decision)
                self.result.planned.append(("/" + entry.path, decision.action.value))
                self.track_children(entry, top)
            self.delete_extras(top)
            return
        # The fetcher reads refs ahead of the writer (a few batches): tee holds the pairs
        # between; only files that will be written are fetched.
        ahead, planned = itertools.tee(planned)
        refs = (c for e, d in ahead
                if e.type is EntryType.FILE and d.action in (Action.CREATE, Action.REPLACE)
                for c in e.chunks)
        chunks = fetch_plaintext(self.client, refs, self.workers)
        for entry, decision in planned:
            self.current = entry.path
            self.track_children(entry, top)
            fetched = entry.type is EntryType.FILE and decision.action in (Action.CREATE,
                                                                            Action.REPLACE)
            # exactly this entry's chunks, drained on failure so the stream stays in step
            mine = itertools.islice(chunks, len(entry.chunks) if fetched else 0)
            try:
                if _under_blocked(self.blocked, entry.path):
                    raise NotADirectoryError("its directory could not be restored")
                self.restore_one(entry, decision, mine)
            except UnsafePathError:
                raise
            except OSError as exc:
                self.result.failed.append(("/" + entry.path, _describe(exc)))
                if entry.type is EntryType.DIR:
                    self.blocked.append(entry.path)
                    self.failed_dirs.append(entry.path)
            for _ in mine:
                pass
        for entry, own in reversed(self.directories):
            if own:
                dest = target_path(self.target, entry.path)
                attrs.apply(dest, entry, self.reporter(entry))
                self.count_owner(entry)
        self.delete_extras(top)

    def note(self, entry: Entry, decision: Decision) -> None:
        """Record decisions that write nothing."""
        path = "/" + entry.path
        if decision.action is Action.CONFLICT:
            self.result.failed.append((path, decision.reason))
        elif decision.action is Action.KEEP:
            self.result.kept.append((path, decision.reason))
        elif decision.action is Action.UNCHANGED and entry.type is not EntryType.DIR:
            self.result.unchanged += 1

    def reporter(self, entry: Entry) -> attrs.Report:
        return lambda reason: self.result.skipped.append(("/" + entry.path, reason))

    def restore_one(self, entry: Entry, decision: Decision,
                    chunks: Iterator[tuple[ChunkRef, bytes | IntegrityError]]) -> None:
        action = decision.action
        dest = target_path(self.target, entry.path)
        report = self.reporter(entry)
        if entry.type is EntryType.DIR:
            if action is Action.CONFLICT:
                self.note(entry, decision)
                return
            ensure_within(self.target, dest)
            if action is Action.REPLACE:
                dest.unlink()
            if action is not Action.MERGE:
                os.mkdir(dest, 0o700)
            # an existing directory keeps its metadata under "never"
            own = action is not Action.MERGE or self.options.overwrite is not Overwrite.NEVER
            self.directories.append((entry, own))
            return
        if not action.writes:
            if entry.type is EntryType.FILE and entry.link_group and action is Action.UNCHANGED:
                self.first_names.setdefault(entry.link_group, dest)
            self.note(entry, decision)
            return
        if entry.type is EntryType.FILE and action is not Action.LINK:
            error = _write_file(self.target, dest, entry, chunks, self.on_bytes, report)
            if error is not None:
                self.result.failed.append(("/" + entry.path, error))
                return
            if entry.link_group:
                self.first_names[entry.link_group] = dest
            self.count_file(entry, dest)
            return
        first = None
        if action is Action.LINK:
            first = self.first_names.get(entry.link_group)
            if first is None:
                self.result.failed.append(("/" + entry.path, "a hard link to "
                                           f"/{self.groups[entry.link_group]}, which was not "
                                           "restored"))
                return
        if not _make_other(self.target, dest, entry, report, first):
            return
        if entry.type is EntryType.FILE:
            self.count_file(entry, dest)
        else:
            self.count_owner(entry)

    def count_owner(self, entry: Entry) -> None:
        if attrs.owner_left(entry):
            self.result.owners_not_set += 1

    def count_file(self, entry: Entry, dest: Path) -> None:
        self.count_owner(entry)
        self.result.files += 1
        self.result.bytes += entry.size
        if self.options.verify:
            if file_hash(dest) == entry.content_hash:
                self.result.verified += 1
            else:
                self.result.failed.append(("/" + entry.path, "verify: the file read back "
                                           "does not match the snapshot's content hash"))

    def track_children(self, entry: Entry, top: str) -> None:
        """With ``delete``: remember the snapshot's names in each directory at or below
        ``top`` (the --path), so the rest can be removed at the end."""
        if not self.options.delete:
            return
        parent, _, name = entry.path.rpartition("/")
        if entry.type is EntryType.DIR and _at_or_below(entry.path, top):
            self.children.setdefault(entry.path, set())
        if parent in self.children:
            self.children[parent].add(name)

    def delete_extras(self, top: str) -> None:
        """With ``delete``: remove what each restored directory holds that the snapshot
        does not (nothing above ``top``, nothing in a directory that failed)."""
        for directory, names in self.children.items():
            if any(_at_or_below(directory, b) for b in self.failed_dirs):
                continue
            dest = target_path(self.target, directory)
            try:
                here = os.listdir(dest)
            except OSError:
                continue  # not restored (dry run, or failed: reported)
            for name in sorted(set(here) - names, key=os.fsencode):
                if name.startswith(".") and ".restore-" in name:
                    continue  # another restore's temporary file
                path = "/" + directory + "/" + name
                self.result.deleted.append(path)
                if self.options.dry_run:
                    assert self.result.planned is not None
                    self.result.planned.append((path, "delete"))
                    continue
                ensure_within(self.target, dest / name)
                try:
                    _remove(dest / name)
                except OSError as exc:
                    self.result.deleted.pop()
                    self.result.failed.append((path, f"not deleted: {_describe(exc)}"))


def _under_blocked(blocked: list[str], path: str) -> bool:
    """Whether ``path`` is below the innermost of ``blocked`` (a stack of directories along
    the current path, manifest order); pops the ones ``path`` has left."""
    while blocked and not path.startswith(blocked[-1] + "/"):
        blocked.pop()
    return bool(blocked)


def _at_or_below(path: str, top: str) -> bool:
    return not top or path == top or path.startswith(top + "/")


def _describe(exc: OSError) -> str:
    """An OSError as one line without the path (the caller names the entry)."""
    if exc.strerror:
        return exc.strerror
    return str(exc)
