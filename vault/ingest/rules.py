"""Ingest rules: what the vault checks before it stores a blob or commits a snapshot.

Below the gRPC edge: the servicer (``vault.rpc.vault_service``) decodes messages into the
types here and calls these functions; they raise ``vault.errors`` and never see a gRPC
context. Rules, each with its reason:

- A header names its node, its signer's key, the number and digest of its chunk ids, and is
  signed with the enrolled key of that node (FORMAT.md "Snapshot header and its signature").
- Node isolation (docs/threat-model.md): a caller with role ``node`` commits only as itself
  and reads only its own snapshots and chunks.
- A commit stream carries at most ``header.chunk_count`` distinct ids, checked as ids arrive,
  so a hostile stream cannot grow the vault's memory past what the signed header allows;
  one message is bounded by ``[server] max_message_bytes``.
- A new blob's chunk id is the BLAKE3-256 of its bytes (blob format v2, a content address):
  the vault recomputes it on every put, so nobody can store bytes under an id another node
  will later find "present" and deduplicate on (FORMAT.md "Deduplication is verifiable").
- A blob the store already held but the catalog lacked (a crash between the two) is recorded
  as stored, not as sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from bulwark.protos.contract import (
    BLOB_V2_MAGIC,
    CHUNK_ID_SIZE,
    PUBLIC_KEY_SIZE,
    SIGNATURE_SIZE,
    SNAPSHOT_HEADER_VERSION,
    SNAPSHOT_SIGNATURE_CONTEXT,
    blob_address,
    chunk_ids_digest,
)
from bulwark.vault.caller import Caller
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.errors import InvalidRequest, PermissionDenied
from bulwark.vault.store.base import ChunkStore, blob_digest


@dataclass(frozen=True)
class Header:
    """The fields of a SnapshotHeader the vault acts on (decoded by the edge)."""

    format_version: int
    node: str
    node_public_key: bytes
    chunk_count: int
    chunk_ids_digest: bytes
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    files: int
    bytes: int
    requested_retention_days: int
    signal_measures: dict[str, int] | None = None  # SignalSummary's scoring measures (ppm)
    ransom_note_dirs: int = 0


@dataclass(frozen=True)
class SignedHeader:
    """A header as signed: ``raw`` is the serialized SnapshotHeader the signature covers."""

    header: Header
    raw: bytes
    signature: bytes


def check_ids(ids: Sequence[bytes], field: str, limit: int | None = None) -> None:
    """Raise ``InvalidRequest`` for more than ``limit`` ids or an id that is not 32 bytes."""
    if limit is not None and len(ids) > limit:
        raise InvalidRequest(f"{field}: {len(ids)} ids in one message, at most {limit}")
    for i, cid in enumerate(ids):
        if len(cid) != CHUNK_ID_SIZE:
            raise InvalidRequest(f"{field}[{i}]: {len(cid)} bytes, expected {CHUNK_ID_SIZE}")


def check_content_addresses(items: Sequence[tuple[bytes, bytes, bytes]]) -> None:
    """Every ``(chunk_id, data, digest)`` of a PutChunks message is a format-v2 blob whose id
    is its hash. Raises InvalidRequest naming the first that is not; nothing of the message
    is stored then."""
    for i, (cid, data, _digest) in enumerate(items):
        if blob_address(data) != cid:
            what = ("a format-v1 blob: no longer accepted, its id cannot be checked"
                    if bytes(data[:3]) == BLOB_V2_MAGIC[:3] and data[3:4] != BLOB_V2_MAGIC[3:]
                    else "its chunk id is not the BLAKE3-256 of its bytes")
            raise InvalidRequest(f"PutChunksRequest.blobs[{i}] (chunk {cid[:8].hex()}…): {what}")


def check_header_shape(signed: SignedHeader) -> None:
    """Raise ``InvalidRequest`` naming the first field that is malformed."""
    header = signed.header
    if header.format_version != SNAPSHOT_HEADER_VERSION:
        raise InvalidRequest(
            f"SnapshotHeader.format_version: {header.format_version}, "
            f"this vault accepts {SNAPSHOT_HEADER_VERSION}"
        )
    if not header.node:
        raise InvalidRequest("SnapshotHeader.node: empty")
    if len(header.chunk_ids_digest) != 32:
        raise InvalidRequest(
            f"SnapshotHeader.chunk_ids_digest: {len(header.chunk_ids_digest)} bytes, expected 32"
        )
    if len(header.node_public_key) != PUBLIC_KEY_SIZE:
        raise InvalidRequest(
            f"SnapshotHeader.node_public_key: {len(header.node_public_key)} bytes, "
            f"expected {PUBLIC_KEY_SIZE}"
        )
    if len(signed.signature) != SIGNATURE_SIZE:
        raise InvalidRequest(
            f"SignedHeader.signature: {len(signed.signature)} bytes, expected {SIGNATURE_SIZE}"
        )


def check_signer(caller: Caller, signed: SignedHeader, enrolled: bytes | None) -> None:
    """The header is signed by ``enrolled``, the key enrolled for ``header.node``; a caller
    with role node commits only as itself. Raises PermissionDenied or InvalidRequest."""
    header = signed.header
    if caller.role == "node" and header.node != caller.name:
        raise PermissionDenied(
            f"node {caller.name!r} may not commit a snapshot for node {header.node!r}"
        )
    if enrolled is None:
        raise PermissionDenied(
            f"node {header.node!r} is not enrolled: enroll its signing key first "
            "(vaultctl pki issue --role node, or vaultctl keys enroll)"
        )
    if header.node_public_key != enrolled:
        raise PermissionDenied(
            f"SnapshotHeader.node_public_key is not the key enrolled for node {header.node!r}"
        )
    try:
        Ed25519PublicKey.from_public_bytes(enrolled).verify(
            signed.signature, SNAPSHOT_SIGNATURE_CONTEXT + signed.raw
        )
    except InvalidSignature:
        raise InvalidRequest(
            f"SignedHeader.signature: does not verify with node {header.node!r}'s key"
        ) from None


def node_filter(caller: Caller, requested: str) -> str | None:
    """The node whose snapshots a read may see: the caller itself for role node, else
    ``requested`` (None: every node). A node asking for another node is PermissionDenied."""
    if caller.role != "node":
        return requested or None
    if requested and requested != caller.name:
        raise PermissionDenied(
            f"node {caller.name!r} may read only its own snapshots, not {requested!r}'s"
        )
    return caller.name


def collect_commit_ids(header: Header, batches: Iterable[Sequence[bytes]]) -> set[bytes]:
    """The distinct ids a commit stream carries, checked against the signed header.

    Memory is bounded by ``header.chunk_count``: the stream is refused as soon as it carries
    more distinct ids (or more ids in all than twice that, duplicates included), before
    they are kept. Raises InvalidRequest on count or digest mismatch.
    """
    ids: set[bytes] = set()
    seen = 0
    budget = 2 * header.chunk_count
    for n, batch in enumerate(batches, start=2):
        check_ids(batch, f"CommitSnapshot message {n}: ChunkIdBatch.chunk_ids")
        seen += len(batch)
        ids.update(batch)
        if len(ids) > header.chunk_count or seen > budget:
            raise InvalidRequest(
                f"CommitSnapshot message {n}: more chunk ids than the header's chunk_count "
                f"{header.chunk_count}"
            )
    if len(ids) != header.chunk_count:
        raise InvalidRequest(
            f"CommitSnapshot: header says chunk_count {header.chunk_count}, "
            f"stream carried {len(ids)} distinct ids"
        )
    if chunk_ids_digest(ids) != header.chunk_ids_digest:
        raise InvalidRequest("CommitSnapshot: chunk ids do not match header chunk_ids_digest")
    return ids


def rows_for_catalog(
    store: ChunkStore, catalog: Catalog, rows: list[tuple[bytes, int, bytes]],
    results: list[bool],
) -> Iterator[tuple[bytes, int, bytes]]:
    """Catalog rows for one stored message. A blob the store already held but the catalog
    lacks (left by a crash between store and catalog) is described as stored, not as sent."""
    old = [row[0] for row, new in zip(rows, results, strict=True) if not new]
    orphans = set(catalog.missing_chunks(old)) if old else set()
    for cid, size, digest in rows:
        if cid in orphans:
            data = store.get(cid)
            size, digest = len(data), blob_digest(data)
        yield cid, size, digest
