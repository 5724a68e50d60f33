"""The signed snapshot header: the node's statement of what a snapshot holds.

This module is the edge between the domain and ``bulwark.v1.SnapshotHeader`` bytes.
The serialized header is what the node signs and what the vault stores verbatim, so
``decode_header(encode_header(h)) == h`` and the bytes never get re-encoded after
signing (FORMAT.md "Snapshot header").
"""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError

from bulwark.agent.errors import ManifestError
from bulwark.agent.format.joined import JoinOrigin, origin_from_pb, origin_pb
from bulwark.agent.format.signal_summary import Summary, summary_from_pb, summary_pb
from bulwark.protos.bulwark.v1 import vault_pb2
from bulwark.protos.contract import SNAPSHOT_HEADER_VERSION

HEADER_FORMAT_VERSION = SNAPSHOT_HEADER_VERSION


@dataclass(frozen=True)
class SnapshotHeader:
    """What a node states about one snapshot; signed with the node's Ed25519 key."""

    node: str
    hostname: str
    paths: tuple[str, ...]
    tags: tuple[str, ...]
    client_time_ns: int
    files: int
    bytes: int
    sealed_root: bytes
    chunk_count: int
    chunk_ids_digest: bytes
    node_public_key: bytes
    requested_retention_days: int = 0  # 0: the vault's default; never below its minimum
    format_version: int = HEADER_FORMAT_VERSION
    signals: Summary | None = None  # ransomware signals (FORMAT.md); None: not scored
    joined: JoinOrigin | None = None  # the join token the key derives from; None: tenant key


def encode_header(header: SnapshotHeader) -> bytes:
    """Serialize a header deterministically (the bytes the signature covers)."""
    message = vault_pb2.SnapshotHeader(
        format_version=header.format_version,
        node=header.node,
        hostname=header.hostname,
        paths=list(header.paths),
        tags=list(header.tags),
        client_time_ns=header.client_time_ns,
        files=header.files,
        bytes=header.bytes,
        sealed_root=header.sealed_root,
        chunk_count=header.chunk_count,
        chunk_ids_digest=header.chunk_ids_digest,
        node_public_key=header.node_public_key,
        requested_retention_days=header.requested_retention_days,
        signals=None if header.signals is None else summary_pb(header.signals),
        joined=None if header.joined is None else origin_pb(header.joined),
    )
    return message.SerializeToString(deterministic=True)


def decode_header(data: bytes) -> SnapshotHeader:
    """Parse header bytes; ManifestError if they are not a version-1 header."""
    message = vault_pb2.SnapshotHeader()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise ManifestError(f"snapshot header does not parse: {exc}") from None
    if message.format_version != HEADER_FORMAT_VERSION:
        raise ManifestError(f"snapshot header has unknown format version {message.format_version}")
    try:
        joined = origin_from_pb(message.joined) if message.HasField("joined") else None
    except ValueError as exc:
        raise ManifestError(f"snapshot header: joined: {exc}") from None
    return SnapshotHeader(
        node=message.node,
        hostname=message.hostname,
        paths=tuple(message.paths),
        tags=tuple(message.tags),
        client_time_ns=message.client_time_ns,
        files=message.files,
        bytes=message.bytes,
        sealed_root=message.sealed_root,
        chunk_count=message.chunk_count,
        chunk_ids_digest=message.chunk_ids_digest,
        node_public_key=message.node_public_key,
        requested_retention_days=message.requested_retention_days,
        format_version=message.format_version,
        signals=summary_from_pb(message.signals) if message.HasField("signals") else None,
        joined=joined,
    )
