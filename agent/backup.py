"""One backup run: scan → (cache | chunk → id) → upload missing → manifest → seal → commit.

Files smaller than ``PACK_FILE_MAX`` are not chunked one by one: their bytes are
concatenated, in scan order, into pack chunks of about ``PACK_TARGET`` bytes, and each
entry names its slice (offset, size) of its pack (FORMAT.md "Packs"). 20,000 files of
1-16 KiB then make ~170 chunks instead of 20,000 blobs, each fsynced by the vault.

The snapshot is committed only after every chunk it references is durable in the
vault (the uploader's ``finish``), and the local file cache is rewritten only after the
commit succeeded, so an interrupted backup leaves the vault with harmless unreferenced
blobs and the next run re-sends nothing the vault already has.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import blake3

from agent.cache import CachedFile, CacheKey, FileCache
from agent.chunker import chunk_bytes, chunk_file
from agent.codec import TensorHint
from agent.crypto import (
    chunk_id_and_key,
    chunk_ids_digest,
    public_signing_key,
    seal_root,
    sign_header,
)
from agent.errors import AgentError
from agent.keys import KeyRing
from agent.manifest import ChunkRef, Entry, EntryType, ManifestRoot, encode_manifest, encode_root
from agent.scanner import ScanItem, scan
from agent.tensors import read_layout
from agent.snapshot import SnapshotHeader, encode_header
from agent.uploader import Uploader
from agent.vault_client import SnapshotInfo, VaultClient

#: on_progress(bytes_done, bytes_total, current_path)
ProgressCallback = Callable[[int, int, str], None]

#: Files below this size go into packs; a pack is closed once it holds PACK_TARGET bytes.
PACK_FILE_MAX = 64 << 10
PACK_TARGET = 1 << 20


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

    def summary(self) -> dict[str, object]:
        return {
            "snapshot": self.snapshot.id,
            "time_ns": self.snapshot.time_ns,
            "files": self.files,
            "bytes": self.bytes,
            "new_bytes": self.new_bytes,
            "new_chunks": self.new_chunks,
            "files_read": self.files_read,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "duration_s": round(self.duration_s, 3),
        }


def _cache_key(item: ScanItem) -> CacheKey:
    return CacheKey(item.rel, item.size, item.mtime_ns, item.ctime_ns, item.inode)


class BackupCancelled(AgentError):
    """The backup was asked to stop (``should_stop``); nothing was committed."""


class _Run:
    """State of one backup run (kept off the public API)."""

    should_stop: Callable[[], bool] | None = None

    def __init__(self, client: VaultClient, keyring: KeyRing, uploader: Uploader,
                 on_progress: ProgressCallback | None) -> None:
        self.client = client
        self.keyring = keyring
        self.uploader = uploader
        self.on_progress = on_progress
        self.referenced: set[bytes] = set()
        self.done = 0
        self.total = 0
        self.skipped: list[tuple[str, str]] = []
        self.pack = bytearray()
        self.packed: list[tuple[int, int, int, bytes]] = []  # (slot, offset, size, hash)
        self.contents: dict[int, CachedFile] = {}  # slot -> content, once known

    def store_piece(self, data: bytes | memoryview, hint: TensorHint | None = None) -> ChunkRef:
        chunk_id, key = chunk_id_and_key(self.keyring.id_key, data)
        self.uploader.add(chunk_id, key, data, hint)
        self.referenced.add(chunk_id)
        return ChunkRef(chunk_id, key, len(data))

    def read_file(self, item: ScanItem) -> CachedFile | None:
        """Chunk and upload one file; None (and a skip record) if it cannot be read."""
        hasher = blake3.blake3(max_threads=1)
        refs = []
        layout = read_layout(item.abs, item.size)  # safetensors: byte-group the floats
        try:
            for piece in chunk_file(item.abs):
                hasher.update(piece.data)
                hint = layout.hint(piece.offset, len(piece.data)) if layout else None
                refs.append(self.store_piece(piece.data, hint))
                self.done += len(piece.data)
                if self.on_progress:
                    self.on_progress(self.done, self.total, item.abs)
                if self.should_stop is not None and self.should_stop():
                    raise BackupCancelled(f"backup stopped at {item.abs} ({self.done} bytes)")
        except OSError as exc:
            self.skipped.append((item.abs, f"cannot read: {exc.strerror}"))
            return None
        return CachedFile(hasher.digest(), tuple(refs))

    def pack_file(self, item: ScanItem, slot: int) -> bool:
        """Read a small file into the open pack; False if it must be read as a normal file
        (its size changed since the scan). A file that cannot be read is skipped (True)."""
        try:
            with open(item.abs, "rb", buffering=0) as f:
                data = f.read(PACK_FILE_MAX + 1)
                while 0 < len(data) <= PACK_FILE_MAX:
                    more = f.read(PACK_FILE_MAX + 1 - len(data))
                    if not more:
                        break
                    data += more
        except OSError as exc:
            self.skipped.append((item.abs, f"cannot read: {exc.strerror}"))
            return True
        if len(data) != item.size:
            return False
        if len(self.pack) + len(data) > PACK_TARGET:
            self.close_pack()
        self.packed.append((slot, len(self.pack), len(data), blake3.blake3(data).digest()))
        self.pack += data
        self.done += len(data)
        if self.on_progress:
            self.on_progress(self.done, self.total, item.abs)
        if len(self.pack) >= PACK_TARGET:
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
            self.contents[slot] = CachedFile(content_hash, (ref,), offset, size)
        self.pack = bytearray()
        self.packed = []


def _cached_files_still_stored(
    client: VaultClient, hits: dict[str, CachedFile]
) -> dict[str, CachedFile]:
    """Drop cache hits whose chunks the vault no longer holds (e.g. after a prune)."""
    if not hits:
        return hits
    missing = client.find_missing({c.id for f in hits.values() for c in f.chunks})
    if not missing:
        return hits
    return {p: f for p, f in hits.items() if not any(c.id in missing for c in f.chunks)}


def run_backup(
    client: VaultClient,
    keyring: KeyRing,
    paths: Sequence[str],
    tags: Iterable[str],
    cache_dir: Path,
    workers: int,
    on_progress: ProgressCallback | None = None,
    exclude: Sequence[str] = (),
    should_stop: Callable[[], bool] | None = None,
) -> BackupResult:
    """Back up ``paths`` as one snapshot and return what was stored.

    Raises ConfigError for a path that does not exist, VaultError if the vault refuses
    or cannot be reached; in every failure case nothing is committed. ``exclude`` are
    glob patterns (scanner). ``should_stop`` is polled at every chunk boundary: once it
    returns True, the chunks read so far are made durable (so the next run does not send
    them again) and BackupCancelled is raised.
    """
    started = time.monotonic()
    items = scan(paths, exclude=exclude)
    cache = FileCache(cache_dir)
    try:
        files = [i for i in items if i.type is EntryType.FILE]
        hits = {}
        for item in files:
            cached = cache.lookup(_cache_key(item))
            if cached is not None:
                hits[item.rel] = cached
        hits = _cached_files_still_stored(client, hits)

        uploader = Uploader(client, workers)
        run = _Run(client, keyring, uploader, on_progress)
        run.should_stop = should_stop
        run.total = sum(i.size for i in files if i.rel not in hits)
        slots: list[Entry | ScanItem] = []  # files wait for their content (packs close later)
        files_read = 0
        try:
            for item in items:
                if item.type is not EntryType.FILE:
                    slots.append(Entry(item.rel, item.type, item.mode, item.mtime_ns,
                                       link_target=item.link_target))
                    continue
                slot = len(slots)
                slots.append(item)
                content = hits.get(item.rel)
                if content is None:
                    files_read += 1
                    if 0 < item.size < PACK_FILE_MAX and run.pack_file(item, slot):
                        continue
                    content = run.read_file(item)
                    if content is None:
                        continue
                else:
                    run.referenced.update(c.id for c in content.chunks)
                run.contents[slot] = content
            run.close_pack()

            entries: list[Entry] = []
            new_cache: list[tuple[CacheKey, CachedFile]] = []
            for slot, entry in enumerate(slots):
                if isinstance(entry, Entry):
                    entries.append(entry)
                    continue
                content = run.contents.get(slot)
                if content is None:
                    continue  # skipped
                entries.append(Entry(entry.rel, EntryType.FILE, entry.mode, entry.mtime_ns,
                                     size=content.size, content_hash=content.content_hash,
                                     chunks=content.chunks, offset=content.offset))
                new_cache.append((_cache_key(entry), content))

            manifest = b"".join(encode_manifest(entries))
            manifest_refs = tuple(run.store_piece(p.data) for p in chunk_bytes(manifest))
            stats = uploader.finish()
        except BackupCancelled:
            uploader.finish()  # what was read is sent: the next run skips it (FindMissing)
            raise
        except BaseException:
            uploader.abort()
            raise

        root = ManifestRoot(manifest_refs, blake3.blake3(manifest).digest(), len(manifest))
        ids = sorted(run.referenced)
        header = encode_header(SnapshotHeader(
            node=keyring.node,
            hostname=socket.gethostname(),
            paths=tuple(os.path.abspath(p) for p in paths),
            tags=tuple(tags),
            client_time_ns=time.time_ns(),
            files=len(new_cache),
            bytes=sum(k.size for k, _ in new_cache),
            sealed_root=seal_root(keyring.restore_public, encode_root(root)),
            chunk_count=len(ids),
            chunk_ids_digest=chunk_ids_digest(ids),
            node_public_key=public_signing_key(keyring.signing_seed),
        ))
        snapshot = client.commit(header, sign_header(keyring.signing_seed, header), ids)
        cache.replace_all(new_cache)
    finally:
        cache.close()
    return BackupResult(
        snapshot=snapshot,
        files=len(new_cache),
        bytes=sum(k.size for k, _ in new_cache),
        new_bytes=stats.new_bytes,
        new_chunks=stats.new_chunks,
        files_read=files_read,
        duration_s=time.monotonic() - started,
        skipped=run.skipped,
    )
