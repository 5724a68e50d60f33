"""Chunk blobs: the encrypted, self-describing unit the vault stores (FORMAT.md "Chunk blob").

Format v2 (written since 2026-11-29)::

    0   4  magic "BWB2"
    4   1  version (2)
    5   3  reserved, zero
    8  12  synthetic nonce = BLAKE3(key = nonce key, payload)[:12]
   20   …  AES-256-GCM(blob key, nonce, payload, AAD = bytes 0..8) || 16-byte tag

    chunk key   = the plaintext's keyed BLAKE3 (agent.format.crypto.chunk_id_and_key)[32:64]
    blob key    = BLAKE3 derive_key(KDF_CONTEXT_BLOB_KEY, chunk key)
    nonce key   = BLAKE3 derive_key(KDF_CONTEXT_BLOB_NONCE, chunk key)
    chunk id    = BLAKE3-256(blob), unkeyed: the vault recomputes it on every put

Nothing random: the same plaintext encoded the same way gives the same blob on every node,
so nodes of a tenant deduplicate on an id the vault can verify (no node can store junk under
an id another node will trust). The nonce depends on the payload, so one key never encrypts
two different payloads under one nonce (a node that picks another codec makes another blob,
with another nonce and another id).

Format v1 (``BWB1``: random nonce, the keyed id in the header) stays readable forever.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bulwark.agent.errors import BlobError
from bulwark.agent.format.codec import (
    TensorHint,
    decode_payload,
    encode_payload,
    encode_payload_facts,
)
from bulwark.agent.format.constants import (
    BLOB_HEADER_SIZE,
    BLOB_MAGIC,
    BLOB_RESERVED_SIZE,
    BLOB_V2_HEADER_SIZE,
    BLOB_V2_MAGIC,
    BLOB_V2_VERSION,
    BLOB_VERSION,
    CHUNK_ID_SIZE,
    KDF_CONTEXT_BLOB_KEY,
    KDF_CONTEXT_BLOB_NONCE,
    KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
)
from bulwark.agent.format.crypto import chunk_id_and_key
from bulwark.agent.format.facts import ChunkFacts

_PREFIX = BLOB_MAGIC + bytes((BLOB_VERSION,)) + bytes(BLOB_RESERVED_SIZE)
_ID_AT = len(_PREFIX)
_NONCE_AT = _ID_AT + CHUNK_ID_SIZE
assert _NONCE_AT + NONCE_SIZE == BLOB_HEADER_SIZE
_V2_PREFIX = BLOB_V2_MAGIC + bytes((BLOB_V2_VERSION,)) + bytes(BLOB_RESERVED_SIZE)
assert len(_V2_PREFIX) + NONCE_SIZE == BLOB_V2_HEADER_SIZE


@dataclass(frozen=True)
class SealedChunk:
    """One chunk ready for the vault: its id (the blob's hash), its key (for the manifest),
    the blob, and the plaintext size."""

    chunk_id: bytes
    key: bytes
    blob: bytes | None  # None: recalled (agent.backup.seal_memo), not sealed this time
    size: int
    facts: ChunkFacts | None = None  # what the codec learnt (ransomware signals); not stored
    plaintext: bytes | None = None  # kept only while ``blob`` is None, to seal on demand
    hint: TensorHint | None = None

    @property
    def weight(self) -> int:
        """The bytes this object holds in memory (its blob, or its plaintext)."""
        return len(self.blob) if self.blob is not None else len(self.plaintext or b"")


def seal_chunk(
    id_key: bytes, plaintext: bytes | bytearray | memoryview, hint: TensorHint | None = None,
    with_facts: bool = True,
) -> SealedChunk:
    """Compress and encrypt one chunk as a format-v2 blob (deterministic; see module doc),
    with the codec's facts about the plaintext (agent.format.facts) unless ``with_facts``
    is False (the blob is the same either way)."""
    _, key = chunk_id_and_key(id_key, plaintext)
    return seal_with_key(key, plaintext, hint, with_facts)


def seal_with_key(
    key: bytes, plaintext: bytes | bytearray | memoryview, hint: TensorHint | None = None,
    with_facts: bool = True,
) -> SealedChunk:
    """:func:`seal_chunk` for a caller that already holds the chunk key."""
    if with_facts:
        payload, facts = encode_payload_facts(plaintext, hint)
    else:
        payload, facts = encode_payload(plaintext, hint), None
    blob = _seal_payload(key, payload)
    return SealedChunk(blob_digest(blob), key, blob, len(plaintext), facts)


def unrecalled(sealed: SealedChunk) -> SealedChunk:
    """The sealed form of a recalled chunk (``blob`` None): seal its plaintext now.

    Raises BlobError if the seal does not give the recalled id (the memo that recalled it
    is wrong), so a snapshot never references an id its plaintext does not seal to."""
    if sealed.blob is not None:
        return sealed
    if sealed.plaintext is None:
        raise ValueError("a recalled chunk must keep its plaintext until it is sealed")
    fresh = seal_with_key(sealed.key, sealed.plaintext, sealed.hint, with_facts=False)
    if fresh.chunk_id != sealed.chunk_id:
        raise BlobError(
            f"chunk {sealed.chunk_id[:8].hex()}…: the seal memo recalled an id its plaintext "
            f"does not seal to ({fresh.chunk_id[:8].hex()}…); delete the node's cache folder")
    return SealedChunk(fresh.chunk_id, fresh.key, fresh.blob, fresh.size, sealed.facts)


def v2_keys(key: bytes) -> tuple[bytes, bytes]:
    """(blob key, nonce key) of a chunk key (FORMAT.md "Chunk blob", format v2)."""
    blob_key = blake3.blake3(bytes(key), derive_key_context=KDF_CONTEXT_BLOB_KEY).digest()
    nonce_key = blake3.blake3(bytes(key), derive_key_context=KDF_CONTEXT_BLOB_NONCE).digest()
    return blob_key, nonce_key


def encode_blob_v2(
    key: bytes, plaintext: bytes | bytearray | memoryview, hint: TensorHint | None = None,
) -> bytes:
    """The format-v2 blob of ``plaintext`` under its chunk ``key``: a pure function."""
    if len(key) != KEY_SIZE:
        raise ValueError(f"chunk key must be {KEY_SIZE} bytes, got {len(key)}")
    return _seal_payload(key, encode_payload(plaintext, hint))


def _seal_payload(key: bytes, payload: bytes) -> bytes:
    blob_key, nonce_key = v2_keys(key)
    nonce = blake3.blake3(payload, key=nonce_key).digest(length=NONCE_SIZE)
    return _V2_PREFIX + nonce + AESGCM(blob_key).encrypt(nonce, payload, _V2_PREFIX)


def encode_blob(
    chunk_id: bytes,
    key: bytes,
    plaintext: bytes | bytearray | memoryview,
    hint: TensorHint | None = None,
) -> bytes:
    """A format-v1 blob (random nonce, keyed id in the header; the header is the AAD).

    Agents write format v2 (:func:`seal_chunk`); this stays to make v1 fixtures and to
    document the layout every v1 reader must accept."""
    if len(chunk_id) != CHUNK_ID_SIZE:
        raise ValueError(f"chunk id must be {CHUNK_ID_SIZE} bytes, got {len(chunk_id)}")
    if len(key) != KEY_SIZE:
        raise ValueError(f"chunk key must be {KEY_SIZE} bytes, got {len(key)}")
    header = _PREFIX + bytes(chunk_id) + os.urandom(NONCE_SIZE)
    sealed = AESGCM(bytes(key)).encrypt(header[_NONCE_AT:], encode_payload(plaintext, hint), header)
    return header + sealed


def decode_blob(chunk_id: bytes, key: bytes, blob: bytes, expected_size: int) -> bytes:
    """Authenticate and decode a blob into the ``expected_size``-byte plaintext of ``chunk_id``.

    Raises BlobError (and nothing else) for any malformed, truncated, forged or oversized blob.
    """
    name = f"blob for chunk {bytes(chunk_id)[:8].hex()}…"
    try:
        blob = bytes(blob)
    except TypeError:
        raise BlobError(f"{name}: not a byte string") from None
    if blob[:4] == BLOB_V2_MAGIC:
        return _decode_v2(name, key, blob, expected_size)
    if len(blob) < BLOB_HEADER_SIZE + TAG_SIZE:
        raise BlobError(
            f"{name}: truncated ({len(blob)} bytes, "
            f"at least {BLOB_HEADER_SIZE + TAG_SIZE} expected)"
        )
    if blob[:4] != BLOB_MAGIC:
        raise BlobError(
            f"{name}: bad magic {blob[:4]!r} (expected {BLOB_V2_MAGIC!r} or {BLOB_MAGIC!r})")
    if blob[4] != BLOB_VERSION:
        raise BlobError(
            f"{name}: unsupported blob version {blob[4]} (this agent reads {BLOB_VERSION})"
        )
    if blob[5:_ID_AT] != bytes(BLOB_RESERVED_SIZE):
        raise BlobError(f"{name}: reserved header bytes are not zero")
    if blob[_ID_AT:_NONCE_AT] != bytes(chunk_id):
        raise BlobError(f"{name}: header names chunk {blob[_ID_AT:_ID_AT + 8].hex()}… instead")
    if len(key) != KEY_SIZE:
        raise BlobError(f"{name}: chunk key must be {KEY_SIZE} bytes, got {len(key)}")
    header = blob[:BLOB_HEADER_SIZE]
    sealed = memoryview(blob)[BLOB_HEADER_SIZE:]  # a view: the ciphertext is not copied
    try:
        payload = AESGCM(bytes(key)).decrypt(header[_NONCE_AT:], sealed, header)
    except InvalidTag:
        raise BlobError(f"{name}: authentication failed (tampered or wrong key)") from None
    try:
        return decode_payload(payload, expected_size)
    except BlobError as exc:
        raise BlobError(f"{name}: {exc}") from None


def _decode_v2(name: str, key: bytes, blob: bytes, expected_size: int) -> bytes:
    if len(blob) < BLOB_V2_HEADER_SIZE + TAG_SIZE:
        raise BlobError(
            f"{name}: truncated ({len(blob)} bytes, "
            f"at least {BLOB_V2_HEADER_SIZE + TAG_SIZE} expected)")
    if blob[4] != BLOB_V2_VERSION:
        raise BlobError(f"{name}: unsupported blob version {blob[4]} with magic {BLOB_V2_MAGIC!r}")
    if blob[5:8] != bytes(BLOB_RESERVED_SIZE):
        raise BlobError(f"{name}: reserved header bytes are not zero")
    if len(key) != KEY_SIZE:
        raise BlobError(f"{name}: chunk key must be {KEY_SIZE} bytes, got {len(key)}")
    blob_key, nonce_key = v2_keys(key)
    nonce = blob[8:BLOB_V2_HEADER_SIZE]
    try:
        payload = AESGCM(blob_key).decrypt(
            nonce, memoryview(blob)[BLOB_V2_HEADER_SIZE:], blob[:8])
    except InvalidTag:
        raise BlobError(f"{name}: authentication failed (tampered or wrong key)") from None
    if blake3.blake3(payload, key=nonce_key).digest(length=NONCE_SIZE) != nonce:
        raise BlobError(f"{name}: nonce is not the payload's synthetic nonce (not canonical)")
    try:
        return decode_payload(payload, expected_size)
    except BlobError as exc:
        raise BlobError(f"{name}: {exc}") from None


def blob_digest(blob: bytes | bytearray | memoryview) -> bytes:
    """Unkeyed BLAKE3-256 of the stored bytes: what the vault verifies without any key."""
    return blake3.blake3(blob).digest()
