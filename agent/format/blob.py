"""Chunk blobs: the encrypted, self-describing unit the vault stores (FORMAT.md "Chunk blob").

::

    0   4  magic "BWB1"
    4   1  version (1)
    5   3  reserved, zero
    8  32  chunk id
   40  12  nonce (random)
   52   …  AES-256-GCM(chunk key, nonce, payload, AAD = bytes 0..52) || 16-byte tag

The chunk key derives from the plaintext (agent.format.crypto.chunk_id_and_key), so every key
encrypts one plaintext: nonce collisions across chunks are impossible by construction.
"""

from __future__ import annotations

import os

import blake3
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from bulwark.agent.errors import BlobError
from bulwark.agent.format.codec import TensorHint, decode_payload, encode_payload
from bulwark.agent.format.constants import (
    BLOB_HEADER_SIZE,
    BLOB_MAGIC,
    BLOB_RESERVED_SIZE,
    BLOB_VERSION,
    CHUNK_ID_SIZE,
    KEY_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
)

_PREFIX = BLOB_MAGIC + bytes((BLOB_VERSION,)) + bytes(BLOB_RESERVED_SIZE)
_ID_AT = len(_PREFIX)
_NONCE_AT = _ID_AT + CHUNK_ID_SIZE
assert _NONCE_AT + NONCE_SIZE == BLOB_HEADER_SIZE


def encode_blob(
    chunk_id: bytes,
    key: bytes,
    plaintext: bytes | bytearray | memoryview,
    hint: TensorHint | None = None,
) -> bytes:
    """Compress and encrypt one chunk; the header (with the chunk id) is the AAD."""
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
    if len(blob) < BLOB_HEADER_SIZE + TAG_SIZE:
        raise BlobError(
            f"{name}: truncated ({len(blob)} bytes, "
            f"at least {BLOB_HEADER_SIZE + TAG_SIZE} expected)"
        )
    if blob[:4] != BLOB_MAGIC:
        raise BlobError(f"{name}: bad magic {blob[:4]!r} (expected {BLOB_MAGIC!r})")
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


def blob_digest(blob: bytes | bytearray | memoryview) -> bytes:
    """Unkeyed BLAKE3-256 of the stored bytes: what the vault verifies without any key."""
    return blake3.blake3(blob).digest()
