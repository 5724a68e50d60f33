"""The gRPC edge for ``bulwark.v1.Keys``: node enrollment and key escrow.

Who may call what is in ``vault.rpc.authz``; what is stored is in ``vault.keys.registry``. Every
enrollment and escrow write is audited with the caller's identity.
"""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import keys_pb2, keys_pb2_grpc
from bulwark.vault.keys.registry import Registry
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge


class KeysService(keys_pb2_grpc.KeysServicer):
    def __init__(self, registry: Registry, audit=None) -> None:
        self.registry = registry
        self.audit = audit

    def _audit(self, context, action: str, target: str, outcome: str, detail: str = "") -> None:
        if self.audit is not None:
            caller = caller_of(context)
            self.audit.append(caller.name, caller.role, action, target, outcome, detail)

    @edge
    def EnrollNode(self, request, context):
        try:
            key, enrolled_ns = self.registry.enroll(request.node, request.signing_public_key)
        except Exception as exc:
            self._audit(context, "keys.enroll", request.node, "refused", str(exc))
            raise
        self._audit(context, "keys.enroll", request.node, "allowed", key.hex())
        return keys_pb2.NodeInfo(node=request.node, signing_public_key=key,
                                 enrolled_ns=enrolled_ns)

    @edge
    def ListNodes(self, request, context):
        return keys_pb2.ListNodesResponse(nodes=[
            keys_pb2.NodeInfo(node=n, signing_public_key=k, enrolled_ns=t)
            for n, k, t in self.registry.nodes()
        ])

    @edge
    def PutEscrow(self, request, context):
        try:
            stored_ns = self.registry.put_escrow(request.name, request.blob)
        except Exception as exc:
            self._audit(context, "keys.escrow.put", request.name, "refused", str(exc))
            raise
        self._audit(context, "keys.escrow.put", request.name, "allowed")
        return keys_pb2.EscrowInfo(name=request.name, stored_ns=stored_ns)

    @edge
    def GetEscrow(self, request, context):
        blob, stored_ns = self.registry.get_escrow(request.name)
        self._audit(context, "keys.escrow.get", request.name, "allowed")
        return keys_pb2.EscrowBlob(name=request.name, blob=blob, stored_ns=stored_ns)
