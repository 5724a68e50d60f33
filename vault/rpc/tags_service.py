"""The gRPC edge of added tags: ``bulwark.v1.Tags`` (``vault.catalog.tags`` keeps them).

Every call is audited with the caller's identity: ``tag.add`` / ``tag.remove`` per tag
changed, or one ``tag.set`` refusal naming why.
"""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import tags_pb2_grpc, vault_pb2
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.catalog.tags import tags_of
from bulwark.vault.errors import VaultError
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge
from bulwark.vault.rpc.vault_service import snapshot_pb
from bulwark.vault.worm.clock import Clock


class TagsService(tags_pb2_grpc.TagsServicer):
    """``bulwark.v1.Tags``; roles in ``vault.rpc.authz`` (operator, officer)."""

    def __init__(self, catalog: Catalog, clock: Clock, audit: AuditLog) -> None:
        self.catalog = catalog
        self.clock = clock
        self.audit = audit

    @edge
    def SetTags(self, request, context) -> vault_pb2.Snapshot:
        caller = caller_of(context)
        tags = tags_of(self.catalog)
        try:
            record = self.catalog.resolve(request.snapshot)
            change = tags.set_tags(record.id, list(request.add), list(request.remove),
                                   caller.name, self.clock.now_ns())
        except VaultError as exc:
            self.audit.append(caller.name, caller.role, "tag.set", request.snapshot,
                              "refused", str(exc))
            raise
        for action, names in (("tag.add", change.added), ("tag.remove", change.removed)):
            for name in names:
                self.audit.append(caller.name, caller.role, action, record.id, "allowed", name)
        return snapshot_pb(tags.attach([record])[0])
