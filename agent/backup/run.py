"""One backup run: scan → (cache | chunk → id) → upload missing → manifest → seal → commit.

Files smaller than ``PACK_FILE_MAX`` are not chunked one by one: their bytes are
concatenated, in scan order, into pack chunks of about ``PACK_TARGET`` bytes, and each
entry names its slice (offset, size) of its pack (FORMAT.md "Packs"). 20,000 files of
1-16 KiB then make ~180 chunks instead of 20,000 blobs, each fsynced by the vault. Where a
pack ends depends on the files' content (:func:`_ends_pack`), as chunk cuts do, so packs
made without the node cache still deduplicate after files were added or removed.

Two helpers take work off the thread that walks the files: small files are read and
hashed ahead of the packer on threads (agent.backup.read_ahead), and chunks are sealed
(compressed, encrypted, their format-v2 ids computed) on threads while the next ones are
read (agent.backup.seal_lanes).

Memory does not grow with the number of files (issue #6): the scan is lazy and comes in
manifest order, each file's entry is encoded as soon as its content is known (only the
files of the open pack wait, about ``PACK_TARGET`` bytes of them), the manifest is spooled
to a temporary file in the cache folder while it is hashed, then chunked from there, and
the cache rows are staged in the cache's SQLite file. Cache hits are checked against the
vault (FindMissing, "are their chunks still stored?") a window of ``WINDOW_ITEMS`` scanned
objects at a time. What is kept for the whole run is the set of referenced chunk ids
(the commit names them all).

What the run meets on a real file system never aborts it and never vanishes unreported
(issue 13): FIFOs, sockets and device nodes are stored as what they are; owners, extended
attributes (ACLs included) and hard links are kept (a second name of an inode reuses the
first one's content, read once); an entry that cannot be listed, read or examined is
listed in ``BackupResult.skipped`` with the reason, and a file whose size or mtime moved
while it was read is stored with the manifest's ``changed`` flag and listed in
``BackupResult.changed`` (and not cached). Memory for hard links: one slot per inode with
more than one link, for the run.

The snapshot is committed only after every chunk it references is durable in the
vault (the uploader's ``finish``), and the local file cache is swapped to this backup's
files (under its paths) only after the commit succeeded, so an interrupted backup leaves
the vault with harmless unreferenced blobs and the next run re-sends nothing the vault
already has.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import blake3

from bulwark.agent.backup.cache import CachedFile, CacheKey, FileCache, cache_space
from bulwark.agent.backup.exclude import PathFilter
from bulwark.agent.backup.read_ahead import ReadAhead
from bulwark.agent.backup.scanner import ScanItem, scan
from bulwark.agent.backup.seal_lanes import SealLanes
from bulwark.agent.backup.seal_memo import SealMemo
from bulwark.agent.backup.source_file import open_source
from bulwark.agent.backup.tensors import read_layout
from bulwark.agent.backup.uploader import Uploader
from bulwark.agent.backup.xattrs import read_xattrs
from bulwark.agent.client.restore_keys import list_restore_keys
from bulwark.agent.client.vault import SnapshotInfo, VaultClient
from bulwark.agent.errors import AgentError
from bulwark.agent.format.blob import SealedChunk
from bulwark.agent.format.chunker import chunk_reader
from bulwark.agent.format.codec import TensorHint
from bulwark.agent.format.crypto import (
    chunk_ids_digest,
    public_signing_key,
    seal_root,
    sign_header,
)
from bulwark.agent.format.manifest import (
    ChunkRef,
    Entry,
    EntryType,
    ManifestRoot,
    ManifestWriter,
    Xattr,
    encode_root,
)
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.format.signal_summary import Summary
from bulwark.agent.format.snapshot import SnapshotHeader, encode_header
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.keys.rotation import sealing_key
from bulwark.agent.signals.collector import Signals
from bulwark.agent.signals.file_stats import FileFacts
from bulwark.agent.signals.score import reasons
from bulwark.protos.contract import PPM

#: on_progress(bytes_done, bytes_total, current_path); unchanged files count as done
ProgressCallback = Callable[[int, int, str], None]

#: Files below this size go into packs. A pack holds at least PACK_MIN bytes unless the
#: scan ends, about PACK_TARGET on average, never more than PACK_MAX (_ends_pack).
PACK_FILE_MAX = 64 << 10
PACK_MIN = 256 << 10
PACK_TARGET = 1 << 20
PACK_MAX = 3 << 20
_PACK_CUT_SCALE = (1 << 64) // (PACK_TARGET - PACK_MIN)

#: Scanned objects whose cache hits are checked with one FindMissing call; a window is
#: also closed once its hits name WINDOW_IDS chunk ids (large unchanged files).
WINDOW_ITEMS = 4096
WINDOW_IDS = 65536

#: The manifest spool stays in memory up to this size, then moves to an unlinked file in
#: the cache folder (it holds chunk keys, like the cache itself).
SPOOL_MEMORY = 4 << 20


@dataclass
class BackupResult:
    snapshot: SnapshotInfo
    files: int
    bytes: int
    new_bytes: int
    new_chunks: int
    files_read: int
    duration_s: float
    skipped: list[tuple[str, str]] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    signals: Summary | None = None  # ransomware signals (agent.signals); None: disabled

    def summary(self) -> dict[str, object]:
        """The ``--json`` object; paths in the text form of agent.format.pathtext."""
        return {
            "snapshot": self.snapshot.id,
            "time_ns": self.snapshot.time_ns,
            "files": self.files,
            "bytes": self.bytes,
            "new_bytes": self.new_bytes,
            "new_chunks": self.new_chunks,
            "files_read": self.files_read,
            "skipped": [{"path": show_path(p), "reason": r} for p, r in self.skipped],
            "changed": [show_path(p) for p in self.changed],
            "duration_s": round(self.duration_s, 3),
            "signals": None if self.signals is None else {
                "score": self.signals.score_ppm / PPM, "reasons": reasons(self.signals),
                **{k: v for k, v in self.signals.as_dict().items() if k != "version"}},
        }


def _cache_key(item: ScanItem) -> CacheKey:
    return CacheKey(item.rel, item.size, item.mtime_ns, item.ctime_ns, item.inode)


class BackupCancelled(AgentError):
    """The backup was asked to stop (``should_stop``); nothing was committed."""


class _Slot:
    """A file in the manifest stream whose content is not known yet (its pack is open)."""

    __slots__ = ("content", "facts", "item", "known", "link_group", "link_of", "read",
                 "xattrs")

    def __init__(self, item: ScanItem, xattrs: tuple[Xattr, ...]) -> None:
        self.item = item
        self.xattrs = xattrs
        self.content: CachedFile | None = None  # None once known: skipped (unreadable)
        self.known = False
        self.read = False  # read in this run (not from the cache): checked for changes
        self.link_group = 0
        self.link_of: _Slot | None = None  # an earlier name of the same inode
        self.facts: FileFacts | None = None  # ransomware signals of a file read (agent.signals)


class BackupRun:
    """State of one backup run: what ``run_backup`` drives, item by item.

    ``add`` queues each scanned item in manifest order (reading, packing or reusing its
    cached content), ``finish_manifest`` closes the last pack and stores the manifest.
    Chunks go to ``uploader`` (anything with ``add(SealedChunk)``), sealed on ``lanes``;
    small files must have been planned on ``read_ahead`` (``is_packed``) in scan order.
    Public so that tests can drive one run without a vault; not a stable API.
    """

    def __init__(self, keyring: KeyRing, uploader: Uploader, lanes: SealLanes,
                 read_ahead: ReadAhead, cache: FileCache, manifest: BinaryIO,
                 on_progress: ProgressCallback | None,
                 should_stop: Callable[[], bool] | None,
                 signals: Signals | None = None) -> None:
        self.keyring = keyring
        self.signals = signals
        self.uploader = uploader
        self.lanes = lanes
        self.read_ahead = read_ahead
        self.cache = cache
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.referenced: set[bytes] = set()
        self.done = 0
        self.total = 0
        self.skipped: list[tuple[str, str]] = []
        self.changed: list[str] = []
        self.links: dict[tuple[int, int], _Slot] = {}  # (device, inode) of nlink > 1 files
        self.pack = bytearray()
        self.packed: list[tuple[_Slot, int, int, bytes]] = []  # (slot, offset, size, hash)
        # the manifest: entries in order; the head waits until its content is known
        self.waiting: deque[Entry | _Slot] = deque()
        self.writer = ManifestWriter()
        self.manifest = manifest
        self.manifest_hash = blake3.blake3()
        self.manifest_size = 0
        self.files = self.bytes = self.files_read = 0

    # -- content ---------------------------------------------------------------------------

    def store_piece(self, data: bytes, hint: TensorHint | None = None) -> ChunkRef:
        """Seal one chunk on the lanes (a pack, a manifest chunk) and store it."""
        return self.store_sealed(self.lanes.seal(data, hint).result())

    def store_sealed(self, sealed: SealedChunk) -> ChunkRef:
        self.uploader.add(sealed)
        self.referenced.add(sealed.chunk_id)
        return ChunkRef(sealed.chunk_id, sealed.key, sealed.size)

    def progress(self, n: int, path: str) -> None:
        self.done += n
        if self.on_progress:
            self.on_progress(self.done, self.total, path)

    def add(self, item: ScanItem, cached: CachedFile | None) -> None:
        """Queue ``item`` in manifest order, with its cached content if that is still valid,
        reading it otherwise; entries whose content is known are written out."""
        xattrs, problem = read_xattrs(item.abs)
        if problem is not None:
            self.skipped.append((item.abs, problem))
        if item.type is not EntryType.FILE:
            self.waiting.append(Entry(item.rel, item.type, item.mode, item.mtime_ns,
                                      link_target=item.link_target, device=item.rdev,
                                      uid=item.uid, gid=item.gid, xattrs=xattrs))
            self.emit()
            return
        slot = _Slot(item, xattrs)
        self.waiting.append(slot)
        if item.nlink > 1 and self.link(slot):
            if cached is None and is_packed(item):
                self.read_ahead.take(item.abs)  # planned with the window: keep in step
            self.progress(item.size, item.abs)
        elif cached is not None:
            slot.content, slot.known = cached, True
            self.referenced.update(c.id for c in cached.chunks)
            self.progress(item.size, item.abs)
        else:
            self.files_read += 1
            slot.read = True
            if not (is_packed(item) and self.pack_file(slot)):
                slot.content, slot.known = self.read_file(item, slot), True
        self.emit()

    def link(self, slot: _Slot) -> bool:
        """Give a file with several hard links its group; True if an earlier name of the
        same inode was queued (its content is then this one's: it is not read again)."""
        key = (slot.item.device, slot.item.inode)
        first = self.links.get(key)
        if first is None:
            slot.link_group = len(self.links) + 1
            self.links[key] = slot
            return False
        slot.link_group, slot.link_of, slot.known = first.link_group, first, True
        return True

    def read_file(self, item: ScanItem, slot: _Slot | None = None) -> CachedFile | None:
        """Chunk and upload one file; None (and a skip record) if it cannot be read (or is
        no longer a regular file: agent.backup.source_file)."""
        refs = []
        try:
            with os.fdopen(open_source(item.abs), "rb", buffering=0) as f:
                layout = read_layout(f.fileno(), item.size)  # safetensors: group the floats
                facts = self.signals.open_file(f.fileno(), item.size) if self.signals else None
                sealing = self.lanes.seal_file(chunk_reader(f), layout.hint if layout else None)
                with closing(iter(sealing)) as pieces:  # closed at once if we stop early
                    for piece in pieces:
                        refs.append(self.store_sealed(piece.sealed))
                        if facts is not None:
                            facts.add(piece.sealed.facts, piece.sealed.size)
                        self.progress(piece.sealed.size, item.abs)
                        if self.should_stop is not None and self.should_stop():
                            raise BackupCancelled(
                                f"backup stopped at {item.abs} ({self.done} bytes)")
        except OSError as exc:
            self.skipped.append((item.abs, f"cannot read: {exc.strerror}"))
            return None
        if slot is not None:
            slot.facts = facts
        return CachedFile(sealing.content_hash, tuple(refs))

    def pack_file(self, slot: _Slot) -> bool:
        """Put a small file (read ahead) into the open pack; False if it must be read as a
        normal file (its size changed since the scan). A file that cannot be read is
        skipped (True)."""
        item = slot.item
        got = self.read_ahead.take(item.abs)
        if got.error is not None:
            self.skipped.append((item.abs, f"cannot read: {got.error.strerror}"))
            slot.known = True
            return True
        data, content_hash = got.data, got.content_hash
        if len(data) != item.size:
            return False
        if len(self.pack) + len(data) > PACK_MAX:
            self.close_pack()
        self.packed.append((slot, len(self.pack), len(data), content_hash))
        if self.signals is not None:
            slot.facts = self.signals.small_file(data)
        self.pack += data
        self.progress(len(data), item.abs)
        if _ends_pack(len(self.pack), content_hash, len(data)):
            self.close_pack()
        if self.should_stop is not None and self.should_stop():
            self.close_pack()  # what was read is sent: the next run finds it (FindMissing)
            raise BackupCancelled(f"backup stopped at {item.abs} ({self.done} bytes)")
        return True

    def close_pack(self) -> None:
        """Store the open pack as one chunk and give each of its files its slice."""
        if not self.packed:
            return
        ref = self.store_piece(bytes(self.pack))
        for slot, offset, size, content_hash in self.packed:
            slot.content, slot.known = CachedFile(content_hash, (ref,), offset, size), True
        self.pack = bytearray()
        self.packed = []

    # -- manifest --------------------------------------------------------------------------

    def emit(self) -> None:
        """Write out the entries at the head of the queue whose content is known."""
        while self.waiting:
            head = self.waiting[0]
            if isinstance(head, _Slot):
                if not head.known:
                    return
                self.waiting.popleft()
                # an earlier name of the same inode was emitted before (manifest order)
                content = head.link_of.content if head.link_of else head.content
                item = head.item
                if content is None:
                    if head.link_of:
                        self.skipped.append((item.abs, "cannot read: another name of this "
                                             f"file could not be read ({head.link_of.item.abs})"))
                    continue  # skipped
                changed = head.read and _changed_while_read(item, content)
                signals = None if self.signals is None else self.signals.file_done(
                    item.rel, content.content_hash, content.size,
                    head.link_of.facts if head.link_of else head.facts)
                self.write(self.writer.add(Entry(
                    item.rel, EntryType.FILE, item.mode, item.mtime_ns, size=content.size,
                    content_hash=content.content_hash, chunks=content.chunks,
                    offset=content.offset, uid=item.uid, gid=item.gid, xattrs=head.xattrs,
                    link_group=head.link_group, changed=changed, signals=signals)))
                if changed:
                    self.changed.append(item.abs)
                else:
                    self.cache.stage(_cache_key(item), content)
                self.files += 1
                self.bytes += content.size
            else:
                self.waiting.popleft()
                self.write(self.writer.add(head))

    def write(self, data: bytes) -> None:
        self.manifest.write(data)
        self.manifest_hash.update(data)
        self.manifest_size += len(data)

    def finish_manifest(self) -> ManifestRoot:
        """Close the last pack, write the last entries, then chunk and upload the manifest
        from its spool (the same cuts as over the bytes in memory)."""
        self.close_pack()
        self.emit()
        assert not self.waiting, "every file's content is known once the last pack closed"
        self.write(self.writer.close())
        self.manifest.seek(0)
        refs = tuple(self.store_piece(bytes(p.data)) for p in chunk_reader(self.manifest))
        return ManifestRoot(refs, self.manifest_hash.digest(), self.manifest_size)


def _changed_while_read(item: ScanItem, content: CachedFile) -> bool:
    """Whether the file read for ``item`` moved under the reader: the bytes stored are not
    as long as the scan saw, or its size or mtime now differ from the scan's."""
    if content.size != item.size:
        return True
    try:
        st = os.lstat(item.abs)
    except OSError:
        return True  # removed or replaced since it was read
    return (st.st_size, st.st_mtime_ns) != (item.size, item.mtime_ns)


def is_packed(item: ScanItem) -> bool:
    """Whether a file to read goes into a pack (by its size at the scan)."""
    return item.type is EntryType.FILE and 0 < item.size < PACK_FILE_MAX


def _ends_pack(pack_size: int, content_hash: bytes, file_size: int) -> bool:
    """Whether the pack ends after a file: past PACK_MIN, with probability file_size /
    (PACK_TARGET - PACK_MIN) drawn from the file's content hash, so packs average about
    PACK_TARGET and the cuts depend on the files, not on their positions: after an added
    or removed file the cuts fall in step again within a pack or two, as chunk cuts do."""
    if pack_size < PACK_MIN:
        return False
    return int.from_bytes(content_hash[:8], "little") < file_size * _PACK_CUT_SCALE


def _windows(
    items: Iterable[ScanItem], cache: FileCache
) -> Iterable[list[tuple[ScanItem, CachedFile | None]]]:
    """The scan in windows of up to WINDOW_ITEMS objects, each file with its cache hit.

    A window's lookups share one read transaction of the cache, closed before the window
    is handed on (the caller stages rows into the cache while it works on the window)."""
    items = iter(items)
    while True:
        window: list[tuple[ScanItem, CachedFile | None]] = []
        ids = 0
        with cache.reading():
            for item in items:
                cached = cache.lookup(_cache_key(item)) if item.type is EntryType.FILE else None
                window.append((item, cached))
                ids += len(cached.chunks) if cached is not None else 0
                if len(window) >= WINDOW_ITEMS or ids >= WINDOW_IDS:
                    break
        if not window:
            return
        yield window


def _still_stored(
    client: VaultClient, window: list[tuple[ScanItem, CachedFile | None]]
) -> list[tuple[ScanItem, CachedFile | None]]:
    """Drop cache hits whose chunks the vault no longer holds (e.g. after a prune)."""
    ids = {c.id for _, cached in window if cached is not None for c in cached.chunks}
    missing = client.find_missing(ids) if ids else set()
    if not missing:
        return window
    return [
        (item, None if cached is None or any(c.id in missing for c in cached.chunks) else cached)
        for item, cached in window
    ]


def run_backup(
    client: VaultClient,
    keyring: KeyRing,
    paths: Sequence[str],
    tags: Iterable[str],
    cache_dir: Path,
    *args, **kwargs,
) -> BackupResult:
    """:func:`backup_paths`, with a full cache folder reported as ``CacheFull`` naming it
    (``agent.backup.cache.cache_space``) rather than a traceback."""
    with cache_space(cache_dir):
        return backup_paths(client, keyring, paths, tags, cache_dir, *args, **kwargs)


def backup_paths(
    client: VaultClient,
    keyring: KeyRing,
    paths: Sequence[str],
    tags: Iterable[str],
    cache_dir: Path,
    workers: int,
    on_progress: ProgressCallback | None = None,
    exclude: Sequence[str] | PathFilter = (),
    should_stop: Callable[[], bool] | None = None,
    retention_days: int = 0,
    signals: bool = True,
) -> BackupResult:
    """Back up ``paths`` as one snapshot and return what was stored.

    Raises ConfigError for a path that does not exist, VaultError if the vault refuses
    or cannot be reached; in every failure case nothing is committed. ``exclude`` is a
    ``PathFilter`` or restic exclude patterns (``agent.backup.exclude``). ``should_stop``
    is polled at every chunk boundary: once it returns True, the chunks read so far are
    made durable (so the next run does not send them again) and BackupCancelled is raised.
    With ``on_progress``, the tree is first walked once more to learn the total size.
    ``signals`` scores the snapshot for ransomware (agent.signals; the summary goes into
    the signed header); it never stops a backup. The manifest root is sealed to the newest
    restore key generation the node can verify (agent.keys.rotation), asked of the vault
    before anything is read.
    """
    started = time.monotonic()
    sealing = sealing_key(keyring, [(k.announcement, k.signature)
                                    for k in list_restore_keys(client)], cache_dir)
    skipped: list[tuple[str, str]] = []
    items = scan(paths, exclude=exclude, on_skip=lambda path, why: skipped.append((path, why)))
    cache = FileCache(cache_dir)
    scoring = Signals(cache_dir, [os.path.abspath(p) for p in paths], enabled=signals)
    memo = SealMemo(cache_dir)
    try:
        with tempfile.SpooledTemporaryFile(SPOOL_MEMORY, dir=cache_dir) as manifest:
            uploader = Uploader(client)
            lanes = SealLanes(keyring.id_key, workers, facts=signals, memo=memo)
            read_ahead = ReadAhead(PACK_FILE_MAX, workers)
            run = BackupRun(keyring, uploader, lanes, read_ahead, cache, manifest, on_progress,
                       should_stop, scoring if signals else None)
            run.skipped = skipped  # the scan's reports and the run's own, in order met
            if on_progress is not None:
                run.total = sum(i.size for i in scan(paths, exclude=exclude)
                                if i.type is EntryType.FILE)
            try:
                for window in _windows(items, cache):
                    window = _still_stored(client, window)
                    if signals:
                        scoring.prefetch(item.rel for item, _ in window
                                         if item.type is EntryType.FILE)
                    read_ahead.plan(item.abs for item, cached in window
                                    if cached is None and is_packed(item))
                    for item, cached in window:
                        run.add(item, cached)
                root = run.finish_manifest()
                stats = uploader.finish()
            except BackupCancelled:
                uploader.finish()  # what was read is sent: the next run skips it (FindMissing)
                raise
            except BaseException:
                uploader.abort()
                raise
            finally:
                read_ahead.close()
                lanes.close()
                memo.close()

        ids = sorted(run.referenced)
        summary = scoring.summary(stats.new_bytes)
        header = encode_header(SnapshotHeader(
            node=keyring.node,
            hostname=socket.gethostname(),
            paths=tuple(os.path.abspath(p) for p in paths),
            tags=tuple(tags),
            client_time_ns=time.time_ns(),
            files=run.files,
            bytes=run.bytes,
            sealed_root=seal_root(sealing.public, encode_root(root), sealing.generation),
            chunk_count=len(ids),
            chunk_ids_digest=chunk_ids_digest(ids),
            node_public_key=public_signing_key(keyring.signing_seed),
            requested_retention_days=retention_days,
            signals=summary,
            joined=keyring.joined,
        ))
        snapshot = client.commit(header, sign_header(keyring.signing_seed, header), ids)
        cache.swap_staged(os.path.abspath(p).lstrip("/") for p in paths)
        scoring.commit()
    except BaseException:
        cache.discard_staged()
        scoring.discard()
        raise
    finally:
        cache.close()
        scoring.close()
    return BackupResult(
        snapshot=snapshot,
        files=run.files,
        bytes=run.bytes,
        new_bytes=stats.new_bytes,
        new_chunks=stats.new_chunks,
        files_read=run.files_read,
        duration_s=time.monotonic() - started,
        skipped=run.skipped,
        changed=run.changed,
        signals=summary,
    )
