"""The gRPC edge of ``bulwark.v1.RestoreKeys``: restore key announcements
(``vault.keys.restore_keys``); publishing is audited as ``keys.restore.publish``, a refusal by
``edge``."""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import restore_keys_pb2, restore_keys_pb2_grpc
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.keys.restore_keys import RestoreKeyLog, RestoreKeyRecord
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge


def _record(r: RestoreKeyRecord) -> restore_keys_pb2.RestoreKeyRecord:
    return restore_keys_pb2.RestoreKeyRecord(
        generation=r.generation, announcement=r.announcement, signature=r.signature,
        published_ns=r.published_ns, published_by=r.published_by)


class RestoreKeyService(restore_keys_pb2_grpc.RestoreKeysServicer):
    """Roles in ``vault.rpc.authz``: publish by operator and officer, list by everyone."""

    def __init__(self, log: RestoreKeyLog, audit: AuditLog | None = None) -> None:
        self.log = log
        self.audit = audit

    @edge
    def PublishRestoreKey(self, request, context) -> restore_keys_pb2.RestoreKeyRecord:
        caller = caller_of(context)
        record = self.log.publish(request.announcement, request.signature, caller.name)
        if self.audit is not None:
            self.audit.append(caller.name, caller.role, "keys.restore.publish",
                              f"generation:{record.generation}", "allowed",
                              record.announcement[8:].hex())
        return _record(record)

    @edge
    def ListRestoreKeys(self, request, context) -> restore_keys_pb2.RestoreKeyList:
        return restore_keys_pb2.RestoreKeyList(keys=[_record(r) for r in self.log.list()])
