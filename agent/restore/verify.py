"""Verifies a snapshot: every chunk is fetched, authenticated and every file re-hashed.

Nothing is written. A damaged chunk is reported with every file that uses it, so an
operator knows what a restore would lose. The manifest is streamed from its spool twice
(count the distinct chunks, then check), so memory does not grow with the number of files
beyond one 32-byte id per distinct chunk (issue #6).
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field

import blake3

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import IntegrityError
from bulwark.agent.format.manifest import EntryType
from bulwark.agent.format.pathtext import show_path
from bulwark.agent.keys.keyfile import KeyRing
from bulwark.agent.restore.fetcher import fetch_plaintext
from bulwark.agent.restore.reader import Manifest, fetch_manifest, open_snapshot

MANIFEST_LABEL = "(manifest)"


@dataclass
class VerifyResult:
    snapshot: str
    chunks: int = 0
    files: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    damaged: dict[str, list[str]] = field(default_factory=dict)  # chunk hex -> files
    mismatched: list[str] = field(default_factory=list)          # files with a bad hash

    @property
    def ok(self) -> bool:
        return not self.damaged and not self.mismatched

    def summary(self) -> dict[str, object]:
        return {
            "snapshot": self.snapshot,
            "chunks": self.chunks,
            "files": self.files,
            "bytes": self.bytes,
            "ok": self.ok,
            "damaged": [{"chunk": c, "files": [show_path(p) for p in f]}
                        for c, f in sorted(self.damaged.items())],
            "mismatched": [show_path(p) for p in self.mismatched],
            "duration_s": round(self.duration_s, 3),
        }


def run_verify(client: VaultClient, keyring: KeyRing, ref: str, workers: int) -> VerifyResult:
    """Check snapshot ``ref`` end to end; problems land in the result, not in raises,
    except key and signature problems, which raise before any data is read."""
    started = time.monotonic()
    snapshot = open_snapshot(client, keyring, ref)
    result = VerifyResult(snapshot.info.id, chunks=len(snapshot.root.chunks))
    try:
        manifest = fetch_manifest(client, snapshot, workers)
    except IntegrityError as exc:
        result.damaged[MANIFEST_LABEL] = [str(exc)]
        result.duration_s = time.monotonic() - started
        return result
    with manifest:
        _check_files(client, manifest, workers, result)
    result.duration_s = time.monotonic() - started
    return result


def _check_files(client: VaultClient, manifest: Manifest, workers: int,
                 result: VerifyResult) -> None:
    result.chunks += len({c.id for e in manifest.entries() for c in e.chunks})
    damaged: defaultdict[str, list[str]] = defaultdict(list)
    # The fetcher reads refs ahead of the checks (a few batches): tee holds the entries between.
    ahead, files = itertools.tee(e for e in manifest.entries() if e.type is EntryType.FILE)
    stream = fetch_plaintext(client, (c for e in ahead for c in e.chunks), workers)
    for entry in files:
        hasher = blake3.blake3(max_threads=1)
        broken = False
        skip, left = entry.offset, entry.size  # a packed small file is a slice of its chunk
        for _ in entry.chunks:
            ref, plain = next(stream)
            if isinstance(plain, IntegrityError):
                damaged[ref.id.hex()].append("/" + entry.path)
                broken = True
            elif not broken:
                piece = memoryview(plain)[skip : skip + left]
                skip, left = 0, left - len(piece)
                hasher.update(piece)
        if not broken and hasher.digest() != entry.content_hash:
            result.mismatched.append("/" + entry.path)
        result.files += 1
        result.bytes += entry.size
    result.damaged = {c: sorted(set(f)) for c, f in damaged.items()}
