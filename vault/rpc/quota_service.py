"""The gRPC edge of ``vault.ingest.quota``: ``bulwark.v1.Quotas`` (operator, officer and drill:
like the storage statistics, the usage of every node is not a node's business)."""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import quota_pb2, quota_pb2_grpc
from bulwark.vault.ingest.quota import Quotas
from bulwark.vault.rpc.status import edge


class QuotaService(quota_pb2_grpc.QuotasServicer):
    def __init__(self, quotas: Quotas) -> None:
        self.quotas = quotas

    @edge
    def GetQuotas(self, request, context) -> quota_pb2.QuotasReply:
        limits = self.quotas.limits
        return quota_pb2.QuotasReply(
            node_stored_bytes=limits.node_stored_bytes,
            node_uncommitted_bytes=limits.node_uncommitted_bytes,
            usage=[quota_pb2.NodeQuotaUsage(node=u.node, stored_bytes=u.stored_bytes,
                                            uncommitted_bytes=u.uncommitted_bytes)
                   for u in self.quotas.usage(request.node)])
