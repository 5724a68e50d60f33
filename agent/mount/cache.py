"""A bounded cache of decrypted chunks for the mounted view.

At most ``max_bytes`` of plaintext are kept (least recently used evicted first; a chunk
is at most 4 MiB, so the bound is exceeded by at most one chunk while it is handed out).
A miss downloads one blob (``VaultClient.get_chunks``), checks it and decrypts it with the
key from the manifest (``format.blob.decode_blob``): a damaged or forged blob is an
``IntegrityError`` for that read, never wrong bytes. Thread-safe: FUSE serves reads on
several threads; two threads missing the same chunk at once may both download it.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import IntegrityError
from bulwark.agent.format.blob import decode_blob
from bulwark.agent.format.manifest import ChunkRef

DEFAULT_CACHE_BYTES = 256 << 20


class ChunkCache:
    def __init__(self, fetch: Callable[[ChunkRef], bytes],
                 max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self._fetch = fetch
        self.max_bytes = max_bytes
        self._kept: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def size(self) -> int:
        """Plaintext bytes held now."""
        return self._bytes

    def get(self, ref: ChunkRef) -> bytes:
        with self._lock:
            plain = self._kept.get(ref.id)
            if plain is not None:
                self._kept.move_to_end(ref.id)
                self.hits += 1
                return plain
            self.misses += 1
        plain = self._fetch(ref)
        with self._lock:
            if ref.id not in self._kept:
                self._kept[ref.id] = plain
                self._bytes += len(plain)
            while self._bytes > self.max_bytes and len(self._kept) > 1:
                _, old = self._kept.popitem(last=False)
                self._bytes -= len(old)
        return plain


def vault_fetcher(client: VaultClient) -> Callable[[ChunkRef], bytes]:
    """Download one chunk from the vault and decode it (IntegrityError if it is damaged)."""

    def fetch(ref: ChunkRef) -> bytes:
        blobs = dict(client.get_chunks([ref.id]))
        if ref.id not in blobs:
            raise IntegrityError(f"chunk {ref.id.hex()}: the vault did not return it")
        return decode_blob(ref.id, ref.key, blobs[ref.id], ref.size)

    return fetch
