"""Frozen constants of the Bulwark v1 data format (protos/FORMAT.md documents every byte).

DO NOT MODIFY: changing any value breaks every existing vault. Chunk boundaries, chunk ids,
blob headers, key derivations and manifest encodings written by v1 agents must stay readable
(and, for dedup, reproducible) forever. A change to any of these means a new format version:
new magic values, a new KDF context date, and an entry in FORMAT.md "Changes".
"""

from __future__ import annotations

from typing import Final

from bulwark.protos.contract import (  # noqa: F401 - part of the format's constants
    BLOB_V1_MAGIC,
    BLOB_V1_VERSION,
    BLOB_V2_MAGIC,
    BLOB_V2_VERSION,
)

KiB: Final = 1024
MiB: Final = 1024 * KiB

# --- Chunking (FastCDC 2020, pyfastcdc's default gear table) ------------------------------
CHUNK_MIN: Final = 256 * KiB
CHUNK_AVG: Final = 1 * MiB
CHUNK_MAX: Final = 4 * MiB
CHUNK_NORMALIZATION: Final = 1  # FastCDC "NC" level; part of the boundary function
CHUNK_GEAR_SEED: Final = 0  # 0 = the paper's reference gear table

# --- Sizes -------------------------------------------------------------------------------
MASTER_SIZE: Final = 32
KEY_SIZE: Final = 32  # id key, chunk keys, root key, X25519 and Ed25519 raw keys
CHUNK_ID_SIZE: Final = 32
HASH_SIZE: Final = 32  # BLAKE3-256 (content hash, manifest hash, blob digest)
SIGNATURE_SIZE: Final = 64

# --- Chunk blob, format v1 (read forever, written no more) --------------------------------
BLOB_MAGIC: Final = BLOB_V1_MAGIC  # b"BWB1" (the keyless shape is in protos/contract.py)
BLOB_VERSION: Final = BLOB_V1_VERSION
BLOB_RESERVED_SIZE: Final = 3
NONCE_SIZE: Final = 12
TAG_SIZE: Final = 16
# magic(4) | version(1) | reserved(3) | chunk id(32) | nonce(12)
BLOB_HEADER_SIZE: Final = 52

# --- Chunk blob, format v2: deterministic, so its BLAKE3-256 is its chunk id ---------------
# magic(4) | version(1) | reserved(3) | synthetic nonce(12), then ciphertext | tag(16)
BLOB_V2_HEADER_SIZE: Final = 20

# --- Payload codecs (first plaintext byte of every blob payload) --------------------------
CODEC_RAW: Final = 0
CODEC_ZSTD: Final = 1
CODEC_BYTEGROUP: Final = 2
BYTEGROUP_WIDTHS: Final = (2, 4)

# --- Sealed manifest root ----------------------------------------------------------------
ROOT_MAGIC: Final = b"BWR1"
ROOT_HKDF_INFO: Final = b"bulwark v1 sealed root"
ROOT_NONCE: Final = bytes(NONCE_SIZE)  # all zero: each root key is used exactly once
# A root sealed to restore key generation >= 1 (FORMAT.md "Restore key rotation"):
# magic(4) | generation (u32 LE)(4) | ephemeral public key(32) | ciphertext | tag(16).
# Generation 0 is always written as BWR1, exactly as before rotation existed.
ROOT_V2_MAGIC: Final = b"BWR2"
ROOT_V2_PREFIX_SIZE: Final = 8

# --- Manifest stream ---------------------------------------------------------------------
MANIFEST_MAGIC: Final = b"BWM1"
MANIFEST_ENTRY_MAX: Final = 64 * MiB

# --- Snapshot header and drill report: shared with the vault, so defined once in
# protos/contract.py (SNAPSHOT_SIGNATURE_CONTEXT, SNAPSHOT_HEADER_VERSION,
# DRILL_SIGNATURE_CONTEXT, DRILL_REPORT_FORMAT, DRILL_REPORT_VERSION, IDS_PER_MESSAGE).

# --- Key derivation (BLAKE3 derive_key contexts; hardcoded, globally unique) ---------------
KDF_CONTEXT_CHUNK_ID: Final = "bulwark 2026-11-28 v1 chunk id key"
KDF_CONTEXT_RESTORE: Final = "bulwark 2026-11-28 v1 restore key"
KDF_CONTEXT_NODE_SIGNING: Final = "bulwark 2026-11-28 v1 node signing key"
KDF_CONTEXT_DRILL_SIGNING: Final = "bulwark 2026-11-28 v1 drill signing key"
KDF_CONTEXT_BLOB_KEY: Final = "bulwark 2026-11-29 v2 blob encryption key"
KDF_CONTEXT_BLOB_NONCE: Final = "bulwark 2026-11-29 v2 blob nonce key"
# A join token's secret, from the master, the token id and its scope; a joined node's signing
# seed, from that secret and the node's name (FORMAT.md "Joined nodes' signing keys").
KDF_CONTEXT_JOIN_SECRET: Final = "bulwark 2026-11-29 v1 join token secret"
KDF_CONTEXT_JOINED_NODE_SIGNING: Final = "bulwark 2026-11-29 v1 joined node signing key"

# --- Key files ---------------------------------------------------------------------------
KEY_FILE_VERSION: Final = 1
# A key file that holds restore key generations >= 1 (FORMAT.md "Restore key rotation"):
# version 2, so a reader that predates rotation refuses it instead of sealing new
# snapshots to a retired restore key.
KEY_FILE_VERSION_ROTATED: Final = 2
# The Ed25519 key that signs restore key announcements, from the master.
KDF_CONTEXT_RESTORE_AUTHORITY: Final = "bulwark 2026-11-29 v1 restore key authority"
