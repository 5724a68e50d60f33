"""Chunk stores: where blobs live. One interface (``base.ChunkStore``), one conformance suite.

``fs.FilesystemStore`` is the embedded default; ``memory.MemoryStore`` has identical
semantics and backs unit tests of the logic above the store.
"""

from bulwark.vault.store.base import ChunkStore, blob_digest
from bulwark.vault.store.fs import FilesystemStore
from bulwark.vault.store.memory import MemoryStore

__all__ = ["ChunkStore", "FilesystemStore", "MemoryStore", "blob_digest"]
