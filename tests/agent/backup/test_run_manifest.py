"""agent.backup.run: the manifest spooled to a file is chunked exactly as the bytes in memory."""

from __future__ import annotations

import tempfile

import blake3

from bulwark.agent.backup import run as backup
from bulwark.agent.backup.cache import FileCache
from bulwark.agent.backup.seal_lanes import SealLanes
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.chunker import chunk_bytes
from bulwark.agent.format.constants import CHUNK_MAX
from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType, encode_manifest
from tests.agent.conftest import RecordingUploader

ID_KEY = bytes(range(32))


class _Keys:
    id_key = ID_KEY


def _entries(n: int) -> list[Entry]:
    out = [Entry("d", EntryType.DIR, 0o755, 1)]
    for i in range(n):
        content = blake3.blake3(i.to_bytes(4, "big")).digest()
        ref = ChunkRef(content, blake3.blake3(content).digest(), 1 << 20)
        out.append(Entry(f"d/{i:08d}", EntryType.FILE, 0o644, i, size=100,
                         content_hash=content, chunks=(ref,), offset=i % 1000))
    return out


def test_spooled_manifest_gives_the_chunk_ids_of_the_in_memory_manifest(tmp_path):
    entries = _entries(50_000)  # ~7 MB: six chunks; the spool moves to disk
    in_memory = b"".join(encode_manifest(entries))
    assert len(in_memory) > CHUNK_MAX + (1 << 20)
    expected = [seal_chunk(ID_KEY, p.data).chunk_id for p in chunk_bytes(in_memory)]

    uploader, lanes = RecordingUploader(), SealLanes(ID_KEY, 2)
    cache = FileCache(tmp_path)
    with tempfile.SpooledTemporaryFile(64 << 10, dir=tmp_path) as spool:
        run = backup.BackupRun(_Keys(), uploader, lanes, None, cache, spool, None, None)  # type: ignore
        for entry in entries:
            run.waiting.append(entry)
            run.emit()
        root = run.finish_manifest()
        assert spool._rolled  # the file path was exercised, not only BytesIO
    cache.close()
    lanes.close()

    assert [r.id for r in root.chunks] == expected
    assert [s.chunk_id for s in uploader.sealed] == expected
    assert b"".join(uploader.chunks) == in_memory
    assert root.manifest_size == len(in_memory)
    assert root.manifest_hash == blake3.blake3(in_memory).digest()


def test_empty_manifest_is_the_magic_alone(tmp_path):
    uploader, lanes = RecordingUploader(), SealLanes(ID_KEY, 1)
    cache = FileCache(tmp_path)
    with tempfile.SpooledTemporaryFile(backup.SPOOL_MEMORY, dir=tmp_path) as spool:
        run = backup.BackupRun(_Keys(), uploader, lanes, None, cache, spool, None, None)  # type: ignore
        root = run.finish_manifest()
    cache.close()
    lanes.close()
    assert root.manifest_size == 4 and uploader.chunks == [b"BWM1"]
