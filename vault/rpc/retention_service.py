"""The gRPC edge of WORM retention: ``bulwark.v1.Retention`` and ``bulwark.v1.Audit``.

Rules live in ``vault.worm.retention`` (pure), prune and scrub in ``vault.worm.prune``; this module
reads the caller (``vault.rpc.identity.caller_of``), audits every change and every refusal
(durably, before answering), and converts messages. Errors map through
``vault.rpc.vault_service.status_for``.
"""

from __future__ import annotations

import logging
import threading
import time

from bulwark.protos.bulwark.v1 import audit_pb2, audit_pb2_grpc, retention_pb2, retention_pb2_grpc
from bulwark.protos.contract import RETENTION_MODES
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.errors import IntegrityError, InvalidRequest, PermissionDenied, RetentionRefused
from bulwark.vault.ingest.upload_guard import UploadGuard
from bulwark.vault.rpc.identity import Caller, caller_of
from bulwark.vault.rpc.status import edge
from bulwark.vault.store.base import ChunkStore
from bulwark.vault.worm import ledger
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.prune import prune, scrub
from bulwark.vault.worm.retention import (
    check_delete,
    check_hold,
    check_set_retention,
    date,
)

log = logging.getLogger(__name__)
MAX_DETAIL_IDS = 20


def retention_info(rec: SnapshotRecord, now_ns: int) -> retention_pb2.RetentionInfo:
    r = rec.retention
    return retention_pb2.RetentionInfo(
        snapshot_id=rec.id,
        mode=RETENTION_MODES.get(r.mode, 0),
        retain_until_ns=r.retain_until_ns,
        legal_hold=r.legal_hold,
        hold_reason=r.hold_reason,
        now_ns=now_ns,
    )


class RetentionService(retention_pb2_grpc.RetentionServicer):
    """``bulwark.v1.Retention``. ``guard`` is the upload/prune lock shared with PutChunks."""

    def __init__(
        self,
        store: ChunkStore,
        catalog: Catalog,
        clock: Clock,
        audit: AuditLog,
        guard: UploadGuard,
        wall=None,
        expire_snapshots: bool = True,
    ) -> None:
        self.expire_snapshots = expire_snapshots  # False with [[forget]] (vault.worm.forget_jobs)
        self.store = store
        self.catalog = catalog
        self.clock = clock
        self.audit = audit
        self.guard = guard
        self._prune_lock = threading.Lock()
        self._wall = wall

    def _refused(self, caller: Caller, action: str, target: str, exc: Exception) -> None:
        self.audit.append(caller.name, caller.role, action, target, "refused", str(exc))
        exc.audited = True  # type: ignore[attr-defined] - status.edge must not add a second

    def _ruled(self, caller: Caller, action: str, target: str, rule):
        """Run ``rule()``; audit and re-raise a refusal."""
        try:
            return rule()
        except (RetentionRefused, PermissionDenied, InvalidRequest) as exc:
            self._refused(caller, action, target, exc)
            raise

    def _checked(self, caller: Caller, rec: SnapshotRecord) -> None:
        """The catalog row agrees with the audit chain's record of it (vault.worm.ledger), or the
        delete is refused (IntegrityError, audited as an error)."""
        try:
            ledger.check_row(self.audit, rec.id, rec.retention)
        except IntegrityError as exc:
            log.error("%s", exc)
            self.audit.append(caller.name, caller.role, "snapshot.delete",
                              ledger.target(rec.id), "error", str(exc))
            exc.audited = True  # type: ignore[attr-defined]
            raise

    @edge
    def GetRetention(self, request, context):
        rec = self.catalog.resolve(request.ref)
        return retention_info(rec, self.clock.now_ns())

    @edge
    def SetRetention(self, request, context):
        caller = caller_of(context)
        rec = self.catalog.resolve(request.ref)
        target = f"snapshot:{rec.id}"
        until = request.retain_until_ns
        kind = self._ruled(caller, "retention.set", target, lambda: check_set_retention(
            rec.id, rec.retention, until, caller, request.bypass_governance))
        detail = (f"{kind}: {date(rec.retention.retain_until_ns)} -> {date(until)}"
                  f" ({rec.retention.mode})" + (" with governance bypass" if kind == "shorten"
                                                 else "")
                  + " " + ledger.mark(until, rec.retention.mode))
        self.audit.append(caller.name, caller.role, f"retention.{kind}", target, "allowed",
                          detail)
        self.catalog.set_retain_until(rec.id, until)
        return retention_info(self.catalog.resolve(rec.id), self.clock.now_ns())

    @edge
    def SetLegalHold(self, request, context):
        caller = caller_of(context)
        rec = self.catalog.resolve(request.ref)
        target = f"snapshot:{rec.id}"
        action = "hold.set" if request.hold else "hold.clear"
        self._ruled(caller, action, target,
                    lambda: check_hold(rec.id, caller, request.hold, request.reason))
        self.audit.append(caller.name, caller.role, action, target, "allowed", request.reason)
        self.catalog.set_legal_hold(rec.id, request.hold, request.reason)
        return retention_info(self.catalog.resolve(rec.id), self.clock.now_ns())

    @edge
    def DeleteSnapshot(self, request, context):
        caller = caller_of(context)
        rec = self.catalog.resolve(request.ref)
        target = f"snapshot:{rec.id}"
        now = self.clock.now_ns()
        self._checked(caller, rec)
        how = self._ruled(caller, "snapshot.delete", target, lambda: check_delete(
            rec.id, rec.retention, now, caller, request.bypass_governance))
        detail = ("expired " if how == "expired" else "governance bypass, locked until ") + date(
            rec.retention.retain_until_ns)
        self.audit.append(caller.name, caller.role, "snapshot.delete", target, "allowed", detail)
        self.catalog.delete_snapshot(rec.id)
        log.info("snapshot %s deleted by %s (%s)", rec.id, caller, detail)
        return retention_pb2.DeleteSnapshotResponse(snapshot_id=rec.id)

    @edge
    def Prune(self, request, context):
        caller = caller_of(context)
        if not self._prune_lock.acquire(blocking=False):
            exc = RetentionRefused("prune: another prune is running; try again when it ends")
            self._refused(caller, "prune", "vault", exc)
            raise exc

        def audit_delete(sid: str) -> None:
            self._checked(caller, self.catalog.resolve(sid))
            self.audit.append(caller.name, caller.role, "snapshot.delete", f"snapshot:{sid}",
                              "allowed", "prune: retention expired, no legal hold")

        try:
            report = prune(self.catalog, self.store, self.clock, self.guard,
                           dry_run=request.dry_run, on_snapshot=audit_delete,
                           expire_snapshots=self.expire_snapshots)
        except Exception as exc:
            self.audit.append(caller.name, caller.role, "prune", "vault", "error", str(exc))
            raise
        finally:
            self._prune_lock.release()
        self.audit.append(
            caller.name, caller.role, "prune.dry-run" if request.dry_run else "prune", "vault",
            "allowed",
            f"{len(report.snapshots)} snapshot(s), {report.chunks} chunk(s), {report.bytes} "
            f"bytes, {report.orphans} orphan blob(s); kept (held): {len(report.kept_locked)}",
        )
        return retention_pb2.PruneReport(
            dry_run=report.dry_run, snapshots=report.snapshots, chunks=report.chunks,
            bytes=report.bytes, kept_locked=report.kept_locked, orphans=report.orphans,
        )

    @edge
    def Scrub(self, request, context):
        caller = caller_of(context)
        report = scrub(self.catalog, self.store, self.clock)
        shown = ", ".join(d.chunk_id.hex()[:16] for d in report.damaged[:MAX_DETAIL_IDS])
        self.audit.append(
            caller.name, caller.role, "scrub", "vault",
            "allowed" if not report.damaged else "error",
            f"{report.blobs} blob(s), {report.bytes} bytes, {len(report.damaged)} damaged"
            + (f": {shown}" if shown else ""),
        )
        return retention_pb2.ScrubReport(
            blobs=report.blobs, bytes=report.bytes,
            damaged=[retention_pb2.DamagedChunk(chunk_id=d.chunk_id, problem=d.problem,
                                                snapshots=d.snapshots)
                     for d in report.damaged],
        )

    @edge
    def GetClock(self, request, context):
        now = self.clock.now_ns()
        wall = self._wall() if self._wall else time.time_ns()
        return retention_pb2.ClockInfo(now_ns=now, wall_ns=wall, skew_ns=wall - now)


class AuditService(audit_pb2_grpc.AuditServicer):
    """``bulwark.v1.Audit``: the chain as stored; clients verify it themselves."""

    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    @edge
    def ReadAudit(self, request, context):
        for entry in self.audit.entries(max(1, request.from_seq)):
            if not context.is_active():
                return
            yield audit_pb2.AuditEntry(
                seq=entry.seq, record=entry.record, prev_hash=entry.prev_hash, hash=entry.hash
            )
