"""The gRPC edge of forget policies: ``bulwark.v1.Forget``.

Decodes the request, selects snapshots as ``Snapshots/QuerySnapshots`` does (a node caller
only its own), lets ``vault.worm.forget.run_forget`` decide, audits every deletion durably before
the catalog drops the snapshot, and streams one ``ForgetDecision`` per snapshot.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from bulwark.protos.bulwark.v1 import forget_pb2, forget_pb2_grpc
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.catalog.query import SnapshotQuery, query_snapshots
from bulwark.vault.errors import IntegrityError
from bulwark.vault.ingest import rules as ingest
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.snapshots_service import host_of
from bulwark.vault.rpc.status import edge
from bulwark.vault.worm import ledger
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.forget import ForgetPolicy, Within, run_forget
from bulwark.vault.worm.retention import date

log = logging.getLogger(__name__)


def policy_of(pb: forget_pb2.KeepPolicy) -> ForgetPolicy:
    within = None
    if pb.HasField("within"):
        w = pb.within
        within = Within(w.years, w.months, w.days, w.hours)
    return ForgetPolicy(last=pb.last, hourly=pb.hourly, daily=pb.daily, weekly=pb.weekly,
                        monthly=pb.monthly, yearly=pb.yearly, within=within,
                        tag_sets=tuple(tuple(ts.tags) for ts in pb.tag_sets))


class ForgetService(forget_pb2_grpc.ForgetServicer):
    """``bulwark.v1.Forget``; ``clock`` is the compliance clock retention uses."""

    def __init__(self, catalog: Catalog, clock: Clock, audit: AuditLog) -> None:
        self.catalog = catalog
        self.clock = clock
        self.audit = audit

    @edge
    def Forget(self, request, context) -> Iterator[forget_pb2.ForgetDecision]:
        caller = caller_of(context)
        q = request.query
        query = SnapshotQuery(
            node=ingest.node_filter(caller, q.node) or "", hosts=tuple(q.hosts),
            tag_sets=tuple(tuple(ts.tags) for ts in q.tag_sets), paths=tuple(q.paths))
        policy = policy_of(request.policy)
        policy.check()
        rules = ", ".join(policy.rules())

        def delete(record: SnapshotRecord) -> None:
            target = f"snapshot:{record.id}"
            try:  # the catalog row must agree with the audit chain (vault.worm.ledger)
                ledger.check_row(self.audit, record.id, record.retention)
            except IntegrityError as exc:
                self.audit.append(caller.name, caller.role, "snapshot.delete", target, "error",
                                  str(exc))
                exc.audited = True  # type: ignore[attr-defined]
                raise
            self.audit.append(caller.name, caller.role, "snapshot.delete", target, "allowed",
                              f"forget: kept by no rule ({rules}); retention expired "
                              f"{date(record.retention.retain_until_ns)}")
            self.catalog.delete_snapshot(record.id)
            log.info("snapshot %s forgotten by %s", record.id, caller)

        records = list(query_snapshots(self.catalog, query, host_of))
        for out in run_forget(records, policy, tuple(request.group_by), self.clock.now_ns(),
                              None if request.dry_run else delete):
            yield forget_pb2.ForgetDecision(
                snapshot_id=out.record.id, node=out.record.node, time_ns=out.record.time_ns,
                group=out.group, reasons=out.reasons, outcome=out.outcome,
                retain_until_ns=out.record.retention.retain_until_ns)
