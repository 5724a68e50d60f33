"""Chunk ids and keys, the sealed manifest root, and snapshot-header signatures.

Which key protects what is drawn in FORMAT.md "Key hierarchy". Every function here is a pure
function of its inputs except :func:`seal_root`, which draws an ephemeral X25519 key.
"""

from __future__ import annotations

import blake3
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bulwark.agent.errors import KeyMaterialError, ManifestError
from bulwark.agent.format.constants import (
    CHUNK_ID_SIZE,
    KEY_SIZE,
    ROOT_HKDF_INFO,
    ROOT_MAGIC,
    ROOT_NONCE,
    ROOT_V2_MAGIC,
    ROOT_V2_PREFIX_SIZE,
    SIGNATURE_SIZE,
    TAG_SIZE,
)
from bulwark.protos.contract import SNAPSHOT_SIGNATURE_CONTEXT as SIGNATURE_CONTEXT
from bulwark.protos.contract import chunk_ids_digest  # noqa: F401 - part of this API

SEALED_ROOT_OVERHEAD = len(ROOT_MAGIC) + KEY_SIZE + TAG_SIZE

WRITE_ONLY_MESSAGE = (
    "this key file is write-only: it holds no restore key; restore with a configuration "
    "that carries the tenant key (operator.toml or drill.toml), or give this node the "
    "restore key explicitly ([keys] file = the tenant key file)"
)


def chunk_id_and_key(
    id_key: bytes, plaintext: bytes | bytearray | memoryview
) -> tuple[bytes, bytes]:
    """One keyed BLAKE3 pass, 64-byte XOF output: (chunk id = out[:32], chunk key = out[32:]).

    The vault learns the id only. The key needs the id key *and* the plaintext, so a node
    (which holds the id key) can rebuild the key of a chunk only if it still has its content.
    """
    if len(id_key) != KEY_SIZE:
        raise KeyMaterialError(f"id key must be {KEY_SIZE} bytes, got {len(id_key)}")
    out = blake3.blake3(plaintext, key=id_key).digest(length=2 * KEY_SIZE)
    return out[:CHUNK_ID_SIZE], out[CHUNK_ID_SIZE:]


def _root_key(shared: bytes, eph_pub: bytes, restore_public: bytes) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_SIZE, salt=eph_pub + restore_public,
        info=ROOT_HKDF_INFO,
    ).derive(shared)


def seal_root(restore_public: bytes, plaintext: bytes, generation: int = 0) -> bytes:
    """Seal ``plaintext`` to the tenant's restore public key of ``generation``.

    Generation 0 (the key the master derives): ROOT_MAGIC | eph_pub | ct+tag, byte for byte
    what v1 wrote. Generation >= 1 (a rotated key, FORMAT.md "Restore key rotation"):
    ROOT_V2_MAGIC | generation u32 LE | eph_pub | ct+tag, the first 8 bytes as associated
    data, so a reader knows which key to use and nobody can relabel the root.
    """
    if len(restore_public) != KEY_SIZE:
        raise KeyMaterialError(f"restore public key must be {KEY_SIZE} bytes")
    if not 0 <= generation <= 0xFFFF_FFFF:
        raise KeyMaterialError(f"restore key generation {generation} is out of range")
    prefix = (ROOT_MAGIC if generation == 0
              else ROOT_V2_MAGIC + generation.to_bytes(4, "little"))
    eph = X25519PrivateKey.generate()
    eph_pub = eph.public_key().public_bytes_raw()
    try:
        shared = eph.exchange(X25519PublicKey.from_public_bytes(restore_public))
    except ValueError:
        raise KeyMaterialError("restore public key is not a usable X25519 key") from None
    key = _root_key(shared, eph_pub, restore_public)
    return prefix + eph_pub + AESGCM(key).encrypt(ROOT_NONCE, plaintext, prefix)


def sealed_root_generation(sealed: bytes) -> int:
    """The restore key generation a sealed root was sealed to: 0 for ``BWR1`` (every root
    written before rotation), the stated one for ``BWR2``. ManifestError if it is neither."""
    prefix = _root_prefix(bytes(sealed))
    return 0 if len(prefix) == len(ROOT_MAGIC) else int.from_bytes(prefix[4:], "little")


def _root_prefix(sealed: bytes) -> bytes:
    """The magic (and, for BWR2, the generation): what the AEAD binds as associated data."""
    magic = sealed[:4]
    size = (len(ROOT_MAGIC) if magic == ROOT_MAGIC
            else ROOT_V2_PREFIX_SIZE if magic == ROOT_V2_MAGIC else 0)
    if not size:
        raise ManifestError(f"sealed manifest root has bad magic {magic!r} "
                            f"(expected {ROOT_MAGIC!r} or {ROOT_V2_MAGIC!r})")
    if len(sealed) < size + KEY_SIZE + TAG_SIZE:
        raise ManifestError(
            f"sealed manifest root is truncated: {len(sealed)} bytes, "
            f"at least {size + KEY_SIZE + TAG_SIZE} expected"
        )
    return sealed[:size]


def open_root(restore_private: bytes | None, sealed: bytes) -> bytes:
    """Open a sealed root (either layout) with the restore private key of its generation
    (:func:`sealed_root_generation` says which; ``KeyRing.restore_key_for`` picks it).

    Raises KeyMaterialError for a write-only key ring or the wrong restore key, ManifestError
    for a malformed root.
    """
    if restore_private is None:
        raise KeyMaterialError(WRITE_ONLY_MESSAGE)
    if len(restore_private) != KEY_SIZE:
        raise KeyMaterialError(f"restore private key must be {KEY_SIZE} bytes")
    sealed = bytes(sealed)
    if len(sealed) < SEALED_ROOT_OVERHEAD:
        raise ManifestError(
            f"sealed manifest root is truncated: {len(sealed)} bytes, "
            f"at least {SEALED_ROOT_OVERHEAD} expected"
        )
    prefix = _root_prefix(sealed)
    at = len(prefix)
    eph_pub = sealed[at : at + KEY_SIZE]
    priv = X25519PrivateKey.from_private_bytes(restore_private)
    restore_public = priv.public_key().public_bytes_raw()
    try:
        shared = priv.exchange(X25519PublicKey.from_public_bytes(eph_pub))
    except ValueError:  # low-order point: all-zero shared secret
        raise ManifestError("sealed manifest root carries an invalid ephemeral key") from None
    key = _root_key(shared, eph_pub, restore_public)
    try:
        return AESGCM(key).decrypt(ROOT_NONCE, sealed[at + KEY_SIZE :], prefix)
    except InvalidTag:
        raise KeyMaterialError(
            "the restore key does not open this snapshot's manifest root (wrong tenant key?)"
        ) from None


def public_signing_key(signing_seed: bytes) -> bytes:
    """The 32-byte Ed25519 public key of a node's signing seed."""
    return _signer(signing_seed).public_key().public_bytes_raw()


def sign_header(signing_seed: bytes, header: bytes) -> bytes:
    """Ed25519 signature over SIGNATURE_CONTEXT || header (serialized SnapshotHeader)."""
    return _signer(signing_seed).sign(SIGNATURE_CONTEXT + bytes(header))


def verify_header(public_key: bytes, header: bytes, signature: bytes) -> None:
    """Raise ManifestError unless ``signature`` is ``public_key``'s signature of ``header``."""
    if len(public_key) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise ManifestError("snapshot header signature does not verify")
    try:
        Ed25519PublicKey.from_public_bytes(bytes(public_key)).verify(
            bytes(signature), SIGNATURE_CONTEXT + bytes(header)
        )
    except (InvalidSignature, ValueError):
        raise ManifestError("snapshot header signature does not verify") from None


def _signer(signing_seed: bytes) -> Ed25519PrivateKey:
    if len(signing_seed) != KEY_SIZE:
        raise KeyMaterialError(f"signing seed must be {KEY_SIZE} bytes, got {len(signing_seed)}")
    return Ed25519PrivateKey.from_private_bytes(bytes(signing_seed))
