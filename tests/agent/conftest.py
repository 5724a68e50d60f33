"""Fixtures for agent unit tests: a backup run with real helpers and no vault."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from bulwark.agent.backup import run as backup
from bulwark.agent.backup.cache import FileCache
from bulwark.agent.backup.read_ahead import ReadAhead
from bulwark.agent.backup.scanner import ScanItem
from bulwark.agent.backup.seal_lanes import SealLanes
from bulwark.agent.format.blob import SealedChunk, decode_blob
from bulwark.agent.format.manifest import Entry, decode_manifest

ID_KEY = bytes(range(32))


class RecordingUploader:
    """Stands in for the uploader: keeps every chunk handed to it, in order (opened again,
    so tests see the plaintext each blob holds)."""

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        self.sealed: list[SealedChunk] = []

    def add(self, sealed: SealedChunk) -> None:
        self.sealed.append(sealed)
        self.chunks.append(decode_blob(sealed.chunk_id, sealed.key, sealed.blob, sealed.size))


class _Keys:
    id_key = ID_KEY


@dataclass
class RunResult:
    run: backup.BackupRun
    uploader: RecordingUploader
    entries: list[Entry] = field(default_factory=list)

    def under(self, root) -> dict[str, Entry]:
        """The manifest's entries below ``root`` by their path relative to it, in order."""
        prefix = root.relative_to("/").as_posix() + "/"
        return {e.path.removeprefix(prefix): e for e in self.entries if e.path.startswith(prefix)}


@pytest.fixture
def backup_run(tmp_path) -> Iterator:
    """``backup_run(items)`` backs up scanned ``items`` as run_backup does (real seal lanes,
    read-ahead and file cache; every item treated as not cached), without a vault, and
    returns the run, the chunks it handed on and its manifest's entries."""
    closing: list = []

    def run(items: list[ScanItem]) -> RunResult:
        uploader, lanes, reader = RecordingUploader(), SealLanes(ID_KEY, 2), ReadAhead(64 << 10, 2)
        cache = FileCache(tmp_path / "cache")
        closing.extend([reader, lanes, cache])
        r = backup.BackupRun(_Keys(), uploader, lanes, reader, cache, io.BytesIO(), None, None)  # type: ignore
        reader.plan(i.abs for i in items if backup.is_packed(i))
        for item in items:
            r.add(item, None)
        root = r.finish_manifest()
        manifest = uploader.chunks[-len(root.chunks):]
        return RunResult(r, uploader, list(decode_manifest(manifest)))

    yield run
    for thing in closing:
        thing.close()
