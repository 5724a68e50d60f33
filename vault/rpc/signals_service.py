"""The gRPC edge of snapshot marks: ``bulwark.v1.Signals`` (officer only, vault.rpc.authz).

Decodes the request; vault.worm.quarantine sets or clears the mark, audits it and (for a mark)
extends the retention of the node's last clean snapshots.
"""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import signals_pb2_grpc
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge
from bulwark.vault.rpc.vault_service import mark_pb
from bulwark.vault.worm.clock import Clock
from bulwark.vault.worm.quarantine import set_by_officer
from bulwark.vault.worm.signals import SignalPolicy

SERVICE_NAME = "bulwark.v1.Signals"


class SignalsService(signals_pb2_grpc.SignalsServicer):
    def __init__(self, catalog: Catalog, clock: Clock, audit: AuditLog | None,
                 policy: SignalPolicy) -> None:
        self.catalog = catalog
        self.clock = clock
        self.audit = audit
        self.policy = policy

    @edge
    def SetMark(self, request, context):
        record = set_by_officer(self.audit, self.catalog, self.policy, request.ref,
                                request.suspicious, request.reason, caller_of(context),
                                self.clock.now_ns())
        return mark_pb(record.mark)
