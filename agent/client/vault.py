"""The agent's gRPC edge: the only agent module that talks to the vault.

It turns domain values into ``bulwark.v1`` messages and back, and gRPC status codes
into the agent's exception tree (one mapping, ``_translate``). Everything above it
works with :class:`SnapshotInfo` and plain bytes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import grpc

from bulwark.agent.client.channel import channel_for, open_channel
from bulwark.agent.client.status import USER_INPUT_ERROR, translate
from bulwark.agent.errors import IntegrityError, SnapshotNotFound
from bulwark.protos.bulwark.v1 import (
    drills_pb2,
    drills_pb2_grpc,
    keys_pb2,
    keys_pb2_grpc,
    vault_pb2,
    vault_pb2_grpc,
)
from bulwark.protos.contract import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DRILL_RECORD_FIELDS,
    IDS_PER_MESSAGE,
    RETENTION_MODE_NAMES,
)

#: The vault refuses more ids than this in one FindMissing/ChunkIdBatch message.

T = TypeVar("T")


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot as the vault lists it, plus the node's signed header bytes."""

    id: str
    time_ns: int
    node: str
    tags: tuple[str, ...]
    paths: tuple[str, ...]
    files: int
    bytes: int
    chunk_count: int
    header: bytes
    signature: bytes
    retention_mode: str = ""  # governance | compliance (the vault's WORM state)
    retain_until_ns: int = 0  # on the vault's compliance clock
    legal_hold: bool = False
    suspicious: bool = False  # the vault's ransomware-signal mark (vault.worm.signals)
    mark_reasons: tuple[str, ...] = ()
    mark_score_ppm: int = 0
    mark_set_by: str = ""  # "" the vault's policy at commit; else the officer
    mark_note: str = ""
    added_tags: tuple[str, ...] = ()  # added in the vault (vaultctl tag); ``tags`` are signed

    @property
    def all_tags(self) -> tuple[str, ...]:
        """Signed tags, then the added ones: what tag filters match."""
        return self.tags + tuple(t for t in self.added_tags if t not in self.tags)


@dataclass(frozen=True)
class PutResult:
    stored: int
    already_present: int
    stored_bytes: int


def _snapshot_info(message: vault_pb2.Snapshot) -> SnapshotInfo:
    return SnapshotInfo(
        id=message.id,
        time_ns=message.time_ns,
        node=message.node,
        tags=tuple(message.tags),
        paths=tuple(message.paths),
        files=message.files,
        bytes=message.bytes,
        chunk_count=message.chunk_count,
        header=message.signed.header,
        signature=message.signed.signature,
        retention_mode=RETENTION_MODE_NAMES.get(message.retention.mode, ""),
        retain_until_ns=message.retention.retain_until_ns,
        legal_hold=message.retention.legal_hold,
        suspicious=message.mark.suspicious,
        mark_reasons=tuple(message.mark.reasons),
        mark_score_ppm=message.mark.score_ppm,
        mark_set_by=message.mark.set_by,
        mark_note=message.mark.note,
        added_tags=tuple(message.added_tags),
    )


#: Public for the other modules of this edge that receive ``Snapshot`` messages.
snapshot_info = _snapshot_info


def batches(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Split ``items`` into lists of at most ``size`` (the last may be shorter)."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class VaultClient:
    """A connection to one vault. Thread-safe: gRPC channels may be shared."""

    def __init__(self, address: str, max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, *,
                 channel: grpc.Channel | None = None) -> None:
        """``channel`` comes from ``agent.client.channel`` (mTLS); without one the client is
        plaintext, which a secure vault refuses (tests of insecure benches only)."""
        self.address = address
        self._channel = channel or open_channel(address, None, max_message_bytes, insecure=True)
        self._stub = vault_pb2_grpc.VaultStub(self._channel)
        self.keys = keys_pb2_grpc.KeysStub(self._channel)
        self.max_message_bytes = max_message_bytes

    @classmethod
    def from_config(cls, config) -> VaultClient:
        """A client over the channel an ``AgentConfig`` describes (mTLS unless insecure)."""
        return cls(config.vault_address, config.max_message_bytes, channel=channel_for(config))

    @property
    def channel(self) -> grpc.Channel:
        """The underlying channel, for stubs of other services (Retention, Drills, ...)."""
        return self._channel

    def enrolled_key(self, node: str) -> bytes | None:
        """The signing key the vault has enrolled for ``node`` (None if not enrolled)."""
        with self._translate("ListNodes"):
            response = self.keys.ListNodes(keys_pb2.ListNodesRequest())
        return next((n.signing_public_key for n in response.nodes if n.node == node), None)

    def enroll_node(self, node: str, public_key: bytes) -> None:
        """Enroll ``node``'s Ed25519 signing key (operator/officer; idempotent)."""
        with self._translate("EnrollNode"):
            self.keys.EnrollNode(
                keys_pb2.EnrollNodeRequest(node=node, signing_public_key=public_key)
            )

    def put_escrow(self, name: str, blob: bytes) -> int:
        """Store a passphrase-wrapped escrow blob (write-once); returns the vault's time."""
        with self._translate(f"escrow {name}"):
            return self.keys.PutEscrow(keys_pb2.PutEscrowRequest(name=name, blob=blob)).stored_ns

    def get_escrow(self, name: str) -> bytes:
        """The escrow blob stored under ``name``; VaultError if none."""
        with self._translate(f"escrow {name}"):
            return self.keys.GetEscrow(keys_pb2.GetEscrowRequest(name=name)).blob

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _translate(self, what: str, not_found: Callable[[str], Exception] | None = None,
                   invalid: Callable[[str], Exception] | None = None):
        """Map a gRPC failure of ``what`` to the agent's exception tree (``client.status``)."""
        return translate(what, self.address, not_found or _chunk_not_found(what), invalid)

    def translate(self, what: str):
        """The same mapping for calls made on :attr:`channel` by the rest of this edge
        (NOT_FOUND becomes SnapshotNotFound)."""
        return translate(what, self.address, SnapshotNotFound)

    def find_missing(self, chunk_ids: Iterable[bytes]) -> set[bytes]:
        """Return the subset of ``chunk_ids`` the vault does not hold."""
        requests = (
            vault_pb2.FindMissingRequest(chunk_ids=batch)
            for batch in batches(chunk_ids, IDS_PER_MESSAGE)
        )
        missing: set[bytes] = set()
        with self._translate("FindMissing"):
            for response in self._stub.FindMissing(requests):
                missing.update(response.missing)
        return missing

    def put_blobs(self, messages: Iterable[list[tuple[bytes, bytes, bytes]]]) -> PutResult:
        """Stream batches of (chunk_id, blob, digest); returns when all are durable.

        Each batch becomes one PutChunks message; the caller keeps each batch under
        ``max_message_bytes``.
        """
        requests = (
            vault_pb2.PutChunksRequest(
                blobs=[vault_pb2.Blob(chunk_id=i, data=d, digest=h) for i, d, h in batch]
            )
            for batch in messages
        )
        with self._translate("PutChunks"):
            response = self._stub.PutChunks(requests)
        return PutResult(response.stored, response.already_present, response.stored_bytes)

    def commit(self, header: bytes, signature: bytes, chunk_ids: list[bytes]) -> SnapshotInfo:
        """Commit a snapshot atomically; VaultError if the vault refuses it."""

        def requests() -> Iterator[vault_pb2.CommitSnapshotRequest]:
            yield vault_pb2.CommitSnapshotRequest(
                header=vault_pb2.SignedHeader(header=header, signature=signature)
            )
            for batch in batches(chunk_ids, IDS_PER_MESSAGE):
                yield vault_pb2.CommitSnapshotRequest(
                    chunks=vault_pb2.ChunkIdBatch(chunk_ids=batch)
                )

        with self._translate("CommitSnapshot"):
            response = self._stub.CommitSnapshot(requests())
        return _snapshot_info(response.snapshot)

    def list_snapshots(self, node: str = "") -> list[SnapshotInfo]:
        with self._translate("ListSnapshots"):
            response = self._stub.ListSnapshots(vault_pb2.ListSnapshotsRequest(node=node))
        return [_snapshot_info(s) for s in response.snapshots]

    def get_snapshot(self, ref: str, node: str = "") -> SnapshotInfo:
        """Resolve a full id, unique prefix or ``latest``; SnapshotNotFound (exit 1) if none
        matches, UsageError (exit 2) if ``ref`` is malformed or an ambiguous prefix."""
        with self._translate(f"snapshot {ref}", not_found=SnapshotNotFound,
                             invalid=USER_INPUT_ERROR):
            response = self._stub.GetSnapshot(vault_pb2.GetSnapshotRequest(ref=ref, node=node))
        return _snapshot_info(response)

    def get_chunks(self, chunk_ids: list[bytes]) -> Iterator[tuple[bytes, bytes]]:
        """Yield (chunk_id, blob) in request order.

        IntegrityError if the vault lacks a chunk or a stored blob fails its keyless
        hash; the stream stops there.
        """
        call = self._stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=chunk_ids))
        with self._translate("GetChunks"):
            for blob in call:
                yield blob.chunk_id, blob.data

    # --- Drills (restore-drill reports; agent.drill) --------------------------------------

    def record_drill(self, report: bytes, signature: bytes, public_key: bytes) -> DrillRecordInfo:
        """Record a signed drill report; VaultError if the vault refuses it."""
        stub = drills_pb2_grpc.DrillsStub(self._channel)
        with self._translate("RecordDrill"):
            response = stub.RecordDrill(drills_pb2.RecordDrillRequest(
                report=report, signature=signature, public_key=public_key))
        return _drill_record(response)

    def list_drills(self, snapshot_id: str = "", node: str = "") -> list[DrillRecordInfo]:
        """Recorded drills, oldest first, optionally for one snapshot or node."""
        stub = drills_pb2_grpc.DrillsStub(self._channel)
        with self._translate("ListDrills"):
            response = stub.ListDrills(
                drills_pb2.ListDrillsRequest(snapshot_id=snapshot_id, node=node))
        return [_drill_record(r) for r in response.drills]


@dataclass(frozen=True)
class DrillRecordInfo:
    """A drill report as the vault recorded it (report bytes as signed)."""

    id: str
    recorded_ns: int
    snapshot_id: str
    node: str
    passed: bool
    report: bytes
    signature: bytes
    public_key: bytes
    recorded_by: str
    recorded_role: str


def _drill_record(message: drills_pb2.DrillRecord) -> DrillRecordInfo:
    return DrillRecordInfo(**{name: getattr(message, name) for name in DRILL_RECORD_FIELDS})


def _chunk_not_found(what: str) -> Callable[[str], Exception]:
    """NOT_FOUND for a chunk read means the vault lost data the catalog promised."""
    return lambda detail: IntegrityError(f"{what}: {detail}")
