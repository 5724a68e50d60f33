"""The gRPC edge for the vault's WORM administration: ``bulwark.v1.Retention`` and ``Audit``.

Converts messages to plain values; gRPC failures map through ``client.status`` (the one
table): a WORM rule's refusal (FAILED_PRECONDITION) becomes ``RetentionRefused`` carrying the
vault's message, which names the rule; a role that may not (PERMISSION_DENIED) becomes
``AccessDenied``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc

from bulwark.agent.client.channel import channel_for
from bulwark.agent.client.status import USER_INPUT_ERROR, translate
from bulwark.protos.bulwark.v1 import audit_pb2, audit_pb2_grpc, retention_pb2, retention_pb2_grpc
from bulwark.protos.contract import RETENTION_MODE_NAMES


@dataclass(frozen=True)
class RetentionView:
    snapshot_id: str
    mode: str
    retain_until_ns: int
    legal_hold: bool
    hold_reason: str
    now_ns: int


@dataclass(frozen=True)
class AuditRecord:
    """One audit entry exactly as the vault sent it (``record`` is the canonical JSON)."""

    seq: int
    record: bytes
    prev_hash: bytes
    hash: bytes


@dataclass
class PruneResult:
    dry_run: bool
    snapshots: list[str]
    chunks: int
    bytes: int
    kept_locked: list[str]
    orphans: int


@dataclass
class ScrubResult:
    blobs: int
    bytes: int
    damaged: list[dict] = field(default_factory=list)


def _view(info: retention_pb2.RetentionInfo) -> RetentionView:
    return RetentionView(info.snapshot_id, RETENTION_MODE_NAMES.get(info.mode, "unspecified"),
                         info.retain_until_ns, info.legal_hold, info.hold_reason, info.now_ns)


class AdminClient:
    """Retention and audit calls over one channel (mTLS as the role config says)."""

    def __init__(self, channel: grpc.Channel, address: str = "") -> None:
        self.address = address
        self._channel = channel
        self._retention = retention_pb2_grpc.RetentionStub(channel)
        self._audit = audit_pb2_grpc.AuditStub(channel)

    @classmethod
    def from_config(cls, config) -> AdminClient:
        return cls(channel_for(config), config.vault_address)

    def close(self) -> None:
        self._channel.close()

    def _translate(self, what: str, typed: bool = False):
        """``typed``: the request carries what the user typed (a snapshot reference, a date,
        a reason), so INVALID_ARGUMENT is a usage error (exit 2)."""
        return translate(what, self.address, invalid=USER_INPUT_ERROR if typed else None)

    def get_retention(self, ref: str) -> RetentionView:
        with self._translate("GetRetention", typed=True):
            return _view(self._retention.GetRetention(retention_pb2.SnapshotRef(ref=ref)))

    def set_retention(self, ref: str, until_ns: int, bypass: bool = False) -> RetentionView:
        with self._translate("SetRetention", typed=True):
            return _view(self._retention.SetRetention(retention_pb2.SetRetentionRequest(
                ref=ref, retain_until_ns=until_ns, bypass_governance=bypass)))

    def set_hold(self, ref: str, hold: bool, reason: str) -> RetentionView:
        with self._translate("SetLegalHold", typed=True):
            return _view(self._retention.SetLegalHold(retention_pb2.SetLegalHoldRequest(
                ref=ref, hold=hold, reason=reason)))

    def delete(self, ref: str, bypass: bool = False) -> str:
        with self._translate("DeleteSnapshot", typed=True):
            return self._retention.DeleteSnapshot(retention_pb2.DeleteSnapshotRequest(
                ref=ref, bypass_governance=bypass)).snapshot_id

    def prune(self, dry_run: bool) -> PruneResult:
        with self._translate("Prune"):
            r = self._retention.Prune(retention_pb2.PruneRequest(dry_run=dry_run))
        return PruneResult(r.dry_run, list(r.snapshots), r.chunks, r.bytes,
                           list(r.kept_locked), r.orphans)

    def scrub(self) -> ScrubResult:
        with self._translate("Scrub"):
            r = self._retention.Scrub(retention_pb2.ScrubRequest())
        return ScrubResult(r.blobs, r.bytes, [
            {"chunk_id": d.chunk_id.hex(), "problem": d.problem, "snapshots": list(d.snapshots)}
            for d in r.damaged
        ])

    def clock(self) -> tuple[int, int]:
        """``(compliance_ns, wall_ns)`` as the vault sees them."""
        with self._translate("GetClock"):
            c = self._retention.GetClock(retention_pb2.GetClockRequest())
        return c.now_ns, c.wall_ns

    def audit(self, from_seq: int = 1) -> Iterator[AuditRecord]:
        with self._translate("ReadAudit"):
            for e in self._audit.ReadAudit(audit_pb2.ReadAuditRequest(from_seq=from_seq)):
                yield AuditRecord(e.seq, e.record, e.prev_hash, e.hash)
