"""agent.backup.run: the manifest spooled to a file is chunked exactly as the bytes in memory."""

from __future__ import annotations

import tempfile

import blake3

from bulwark.agent.backup import run as backup
from bulwark.agent.backup.cache import FileCache
from bulwark.agent.format.chunker import chunk_bytes
from bulwark.agent.format.constants import CHUNK_MAX
from bulwark.agent.format.crypto import chunk_id_and_key
from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType, encode_manifest

ID_KEY = bytes(range(32))


class _Keys:
    id_key = ID_KEY


class _Uploader:
    def __init__(self) -> None:
        self.chunks: list[tuple[bytes, bytes]] = []

    def add(self, chunk_id, key, data, hint=None) -> None:
        self.chunks.append((chunk_id, bytes(data)))


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
    expected = [chunk_id_and_key(ID_KEY, p.data)[0] for p in chunk_bytes(in_memory)]

    uploader = _Uploader()
    cache = FileCache(tmp_path)
    with tempfile.SpooledTemporaryFile(64 << 10, dir=tmp_path) as spool:
        run = backup._Run(_Keys(), uploader, None, None, cache, spool, None, None)  # type: ignore
        for entry in entries:
            run.waiting.append(entry)
            run.emit()
        root = run.finish_manifest()
        assert spool._rolled  # the file path was exercised, not only BytesIO
    cache.close()

    assert [r.id for r in root.chunks] == expected
    assert [c for c, _ in uploader.chunks] == expected
    assert b"".join(d for _, d in uploader.chunks) == in_memory
    assert root.manifest_size == len(in_memory)
    assert root.manifest_hash == blake3.blake3(in_memory).digest()


def test_empty_manifest_is_the_magic_alone(tmp_path):
    uploader = _Uploader()
    cache = FileCache(tmp_path)
    with tempfile.SpooledTemporaryFile(backup.SPOOL_MEMORY, dir=tmp_path) as spool:
        run = backup._Run(_Keys(), uploader, None, None, cache, spool, None, None)  # type: ignore
        root = run.finish_manifest()
    cache.close()
    assert root.manifest_size == 4 and [d for _, d in uploader.chunks] == [b"BWM1"]
