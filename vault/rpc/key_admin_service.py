"""The gRPC edge of ``bulwark.v1.KeyAdmin``: the keys the vault knows (``vault.keys.registry``,
activity from the catalog, ``vault.catalog.stats``) and retiring nodes (audited as
``keys.retire``)."""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import key_admin_pb2, key_admin_pb2_grpc
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.catalog.stats import CatalogStats
from bulwark.vault.errors import VaultError
from bulwark.vault.keys.registry import Registry
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge


class KeyAdminService(key_admin_pb2_grpc.KeyAdminServicer):
    """Roles in ``vault.rpc.authz`` (operator, officer)."""

    def __init__(self, registry: Registry, catalog: Catalog, audit: AuditLog) -> None:
        self.registry = registry
        self.stats = CatalogStats(catalog.path)
        self.audit = audit

    def _node(self, name: str, key: bytes, enrolled_ns: int, activity: dict,
              retired: dict) -> key_admin_pb2.NodeKey:
        count, last = activity.get(name, (0, 0))
        r_ns, r_by, reason = retired.get(name, (0, "", ""))
        return key_admin_pb2.NodeKey(node=name, signing_public_key=key, enrolled_ns=enrolled_ns,
                                     snapshots=count, last_snapshot_ns=last, retired_ns=r_ns,
                                     retired_by=r_by, reason=reason)

    @edge
    def ListKeys(self, request, context) -> key_admin_pb2.KeyList:
        activity, retired = self.stats.node_activity(), self.registry.retired()
        return key_admin_pb2.KeyList(
            nodes=[self._node(n, k, t, activity, retired) for n, k, t in self.registry.nodes()],
            escrow=[key_admin_pb2.EscrowEntry(name=n, stored_ns=s, size=size, last_read_ns=r)
                    for n, s, size, r in self.registry.escrows()])

    @edge
    def RetireNode(self, request, context) -> key_admin_pb2.NodeKey:
        caller = caller_of(context)
        try:
            self.registry.retire(request.node, caller.name, request.reason)
        except VaultError as exc:
            self.audit.append(caller.name, caller.role, "keys.retire", request.node, "refused",
                              str(exc))
            raise
        self.audit.append(caller.name, caller.role, "keys.retire", request.node, "allowed",
                          request.reason)
        key = self.registry.node_key(request.node) or b""
        enrolled = next((t for n, _k, t in self.registry.nodes() if n == request.node), 0)
        return self._node(request.node, key, enrolled, self.stats.node_activity(),
                          self.registry.retired())
