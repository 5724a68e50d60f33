"""Values the agent and the vault must agree on, defined once (both sides import this module).

The generated messages say what travels; this module says the rules around them that the
proto language cannot: signature contexts, the snapshot header's format version, how many
ids one streamed message may carry, how a snapshot's chunk ids are digested, and the names of
retention modes. protos/FORMAT.md documents each; changing one is a format change.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Final

import blake3

from bulwark.protos.bulwark.v1 import drills_pb2, retention_pb2

# FORMAT.md "Snapshot header and its signature": Ed25519 over context || serialized header.
SNAPSHOT_SIGNATURE_CONTEXT: Final = b"bulwark-snapshot-v1\x00"
SNAPSHOT_HEADER_VERSION: Final = 1

# FORMAT.md "Drill report": Ed25519 over context || canonical JSON report.
DRILL_SIGNATURE_CONTEXT: Final = b"bulwark-drill-v1\x00"
DRILL_REPORT_FORMAT: Final = "bulwark-drill-report"
DRILL_REPORT_VERSION: Final = 1

CHUNK_ID_SIZE: Final = 32
SIGNATURE_SIZE: Final = 64  # Ed25519
PUBLIC_KEY_SIZE: Final = 32  # Ed25519

# FORMAT.md "Chunk blob": what the vault checks without keys. A format-v2 blob's chunk id
# IS the BLAKE3-256 of its bytes (a content address the vault recomputes on every put, so
# no node can store junk under an id another node will deduplicate on). Format-v1 blobs
# (written before v2, readable forever, never accepted again) name their keyed id in the
# header: magic | version | reserved(3) | chunk id(32) | nonce(12) | ciphertext | tag(16).
BLOB_V1_MAGIC: Final = b"BWB1"
BLOB_V1_VERSION: Final = 1
BLOB_V1_ID_AT: Final = 8
BLOB_V1_MIN_SIZE: Final = 52 + 16
BLOB_V2_MAGIC: Final = b"BWB2"
BLOB_V2_VERSION: Final = 2
BLOB_V2_MIN_SIZE: Final = 20 + 16


def blob_address(blob: bytes | bytearray | memoryview) -> bytes:
    """The chunk id of a format-v2 blob: unkeyed BLAKE3-256 of its bytes."""
    return blake3.blake3(blob).digest()


def legacy_blob_problem(chunk_id: bytes, blob: bytes | bytearray | memoryview) -> str | None:
    """Why a stored blob whose id is not its hash cannot be the format-v1 blob of
    ``chunk_id`` (None if its keyless shape is right: magic, version, the id it names)."""
    if len(blob) < BLOB_V1_MIN_SIZE:
        return f"{len(blob)} bytes: shorter than any format-v1 blob ({BLOB_V1_MIN_SIZE})"
    head = bytes(blob[:BLOB_V1_ID_AT + CHUNK_ID_SIZE])
    if head[:4] != BLOB_V1_MAGIC:
        return f"not a blob of this chunk id: magic {head[:4]!r}, id is not its hash"
    if head[4] != BLOB_V1_VERSION or head[5:8] != bytes(3):
        return "format-v1 header with a bad version or reserved bytes"
    if head[BLOB_V1_ID_AT:] != chunk_id:
        return "format-v1 blob names another chunk id"
    return None


# A recorded drill's fields, in the DrillRecord message's order: the vault's drill log
# stores them as columns and both sides' record types have exactly these fields.
DRILL_RECORD_FIELDS: Final = tuple(f.name for f in drills_pb2.DrillRecord.DESCRIPTOR.fields)

# The largest gRPC message either side sends or accepts unless configured otherwise
# (vault.toml / agent.toml [vault] max_message_bytes); blobs are at most CHUNK_MAX (4 MiB)
# plus their header, so one message always holds at least one blob.
DEFAULT_MAX_MESSAGE_BYTES: Final = 16 << 20

# Keepalive (issue 15: a stalled vault or a silently cut link). The vault answers pings but
# sends GOAWAY to a client that pings more often than KEEPALIVE_MIN_PING_MS while no data
# flows; every client pings its connection after CLIENT_KEEPALIVE_MS without a frame and
# gives the call up (UNAVAILABLE) when the ping is not answered within
# CLIENT_KEEPALIVE_TIMEOUT_MS, so a call to a vault that stopped answering ends within
# about their sum. The client's interval stays twice the vault's minimum (timers jitter).
KEEPALIVE_MIN_PING_MS: Final = 10_000
CLIENT_KEEPALIVE_MS: Final = 2 * KEEPALIVE_MIN_PING_MS
CLIENT_KEEPALIVE_TIMEOUT_MS: Final = 10_000
# The gRPC channel options of every client of a vault (the agent's channel, the air-gap
# vault's to its primary). Pings go only while a call is open, however long it waits for
# data: ``max_pings_without_data`` 0 lifts gRPC's default of two, which would leave a stall
# after the second quiet interval unnoticed. ``ping_timeout_ms`` is what ends a stalled
# upload: a vault that stopped reading leaves the socket full, the ping is never written,
# and gRPC's keepalive timeout only starts once it is; the ping timeout starts when the ping
# is queued (gRPC's default: 60 s).
CLIENT_KEEPALIVE_OPTIONS: Final = (
    ("grpc.keepalive_time_ms", CLIENT_KEEPALIVE_MS),
    ("grpc.keepalive_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
    ("grpc.http2.ping_timeout_ms", CLIENT_KEEPALIVE_TIMEOUT_MS),
    ("grpc.http2.max_pings_without_data", 0),
)

# FindMissing, CommitSnapshot and GetChunks carry at most this many ids per message; the
# vault refuses more (INVALID_ARGUMENT), so a message's size is bounded by the protocol.
IDS_PER_MESSAGE: Final = 4096

# Retention modes by name, as the RetentionMode enum numbers them.
RETENTION_MODES: Final = {
    "governance": retention_pb2.RETENTION_MODE_GOVERNANCE,
    "compliance": retention_pb2.RETENTION_MODE_COMPLIANCE,
}
RETENTION_MODE_NAMES: Final = {code: name for name, code in RETENTION_MODES.items()}


def chunk_ids_digest(chunk_ids: Iterable[bytes]) -> bytes:
    """BLAKE3-256 of the sorted distinct 32-byte ids, concatenated (SnapshotHeader field 11).

    Raises ValueError for an id that is not CHUNK_ID_SIZE bytes.
    """
    h = blake3.blake3()
    for cid in sorted(set(chunk_ids)):
        if len(cid) != CHUNK_ID_SIZE:
            raise ValueError(f"chunk id must be {CHUNK_ID_SIZE} bytes, got {len(cid)}")
        h.update(cid)
    return h.digest()


# FORMAT.md "Audit log": each entry's record is the canonical JSON (keys sorted, ``,``/``:``
# separators, UTF-8, no trailing newline) of exactly these fields; the chain starts from
# AUDIT_GENESIS and an entry's hash is BLAKE3-256(prev_hash || record). The vault writes it;
# ``vaultctl audit verify`` recomputes every hash itself with these same rules.
AUDIT_RECORD_FIELDS: Final = (
    "action", "actor", "detail", "outcome", "role", "seq", "target", "time_ns", "wall_ns",
)
AUDIT_GENESIS: Final = bytes(32)


def audit_record(fields: dict) -> bytes:
    """An audit entry's record bytes: the canonical JSON of ``fields``."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def audit_chain_hash(prev_hash: bytes, record: bytes) -> bytes:
    """An audit entry's hash: BLAKE3-256(prev_hash || record)."""
    return blake3.blake3(prev_hash + record).digest()


# FORMAT.md "Store marker": the file `vaultctl init` (or `vaultd --init-store`) writes at the
# root of a filesystem store. vaultd serves only a folder that holds it, and refuses a
# marker whose version is newer than the one it reads.
STORE_MARKER_NAME: Final = "BULWARK-STORE"
STORE_MARKER_FORMAT: Final = "bulwark-store"
STORE_FORMAT_VERSION: Final = 1


def store_marker(vault_id: str, created: str) -> bytes:
    """The marker's bytes: canonical JSON (keys sorted, no whitespace) and a newline.

    ``vault_id`` is 32 lowercase hex digits chosen at random once per vault; ``created`` an
    RFC 3339 UTC time. Readers ignore keys they do not know.
    """
    doc = {"format": STORE_MARKER_FORMAT, "version": STORE_FORMAT_VERSION,
           "vault_id": vault_id, "created": created}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode() + b"\n"


# FORMAT.md "Ransomware signals": the measures of SignalSummary (signals.proto) that score,
# by field name without "_ppm". A snapshot's score is the largest of them; both the agent
# (its own score) and the vault (its policy, vault.toml [signals]) judge the same numbers.
SIGNAL_SUMMARY_VERSION: Final = 1
SIGNAL_SCORING_MEASURES: Final = (
    "high_entropy", "format_lost", "exponents_moved", "wiped", "renamed_ext",
)
SIGNAL_DEFAULT_THRESHOLD_PPM: Final = 25_000  # 2.5 % of the snapshot's files or bytes
SIGNAL_DEFAULT_NOTE_DIRS: Final = 2  # ransom-note-like files new in this many directories
PPM: Final = 1_000_000


# FORMAT.md "Restore key rotation": a restore key announcement, the 40 bytes the tenant's
# restore key authority signs and the vault keeps for nodes to fetch:
# magic(4) | generation (u32, little-endian, >= 1) | X25519 restore public key(32).
# The vault reads only the generation (to keep one announcement per generation); the nodes
# verify the signature, Ed25519 over context || announcement.
RESTORE_KEY_MAGIC: Final = b"BWRK"
RESTORE_KEY_SIZE: Final = 40
RESTORE_KEY_SIGNATURE_CONTEXT: Final = b"bulwark-restore-key-v1\x00"
RESTORE_KEY_GENERATION_MAX: Final = 0xFFFF_FFFF


def restore_key_generation(announcement: bytes) -> int | None:
    """The generation a well-formed announcement names, or None if it is not one (wrong
    size or magic, or generation 0, which is never announced: it derives from the master)."""
    if len(announcement) != RESTORE_KEY_SIZE or announcement[:4] != RESTORE_KEY_MAGIC:
        return None
    generation = int.from_bytes(announcement[4:8], "little")
    return generation or None
