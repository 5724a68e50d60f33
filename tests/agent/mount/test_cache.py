"""The mounted view's chunk cache: bounded by bytes, least recently used out first, and a
fetch failure reaching the reader (unit; the real vault path is tests/e2e/test_mount.py)."""

from __future__ import annotations

import pytest

from bulwark.agent.errors import IntegrityError
from bulwark.agent.format.manifest import ChunkRef
from bulwark.agent.mount.cache import ChunkCache


def _ref(n: int, size: int = 100) -> ChunkRef:
    return ChunkRef(bytes([n]) * 32, b"k" * 32, size)


def test_hits_misses_and_the_byte_bound():
    fetched: list[int] = []

    def fetch(ref):
        fetched.append(ref.id[0])
        return bytes([ref.id[0]]) * ref.size

    cache = ChunkCache(fetch, max_bytes=250)
    assert cache.get(_ref(1)) == b"\x01" * 100
    cache.get(_ref(2))
    cache.get(_ref(1))  # hit: 1 is now the most recently used
    cache.get(_ref(3))  # 300 bytes > 250: 2, the least recently used, goes
    assert cache.size == 200
    cache.get(_ref(1))
    cache.get(_ref(2))
    assert fetched == [1, 2, 3, 2] and (cache.hits, cache.misses) == (2, 4)


def test_a_failed_fetch_raises_and_keeps_nothing():
    def fetch(ref):
        raise IntegrityError("chunk damaged")

    cache = ChunkCache(fetch, max_bytes=1000)
    with pytest.raises(IntegrityError, match="damaged"):
        cache.get(_ref(1))
    assert cache.size == 0
