"""Values the agent and the vault must agree on, defined once (both sides import this module).

The generated messages say what travels; this module says the rules around them that the
proto language cannot: signature contexts, the snapshot header's format version, how many
ids one streamed message may carry, how a snapshot's chunk ids are digested, and the names of
retention modes. protos/FORMAT.md documents each; changing one is a format change.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

import blake3

from bulwark.protos.bulwark.v1 import retention_pb2

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
