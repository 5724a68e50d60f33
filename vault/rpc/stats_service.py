"""The gRPC edge of storage statistics and chunk sizes: ``bulwark.v1.Stats``
(``vault.catalog.stats`` computes)."""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import stats_pb2, stats_pb2_grpc
from bulwark.protos.contract import IDS_PER_MESSAGE
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.catalog.stats import CatalogStats, Usage
from bulwark.vault.ingest import rules as ingest
from bulwark.vault.rpc.status import edge


def usage_pb(u: Usage) -> stats_pb2.Usage:
    return stats_pb2.Usage(scope=u.scope, snapshots=u.snapshots, logical_bytes=u.logical_bytes,
                           chunks=u.chunks, stored_bytes=u.stored_bytes,
                           unique_chunks=u.unique_chunks, unique_bytes=u.unique_bytes)


class StatsService(stats_pb2_grpc.StatsServicer):
    """``bulwark.v1.Stats``; roles in ``vault.rpc.authz`` (not the node role: the vault's
    totals say how much every other node stores)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.stats = CatalogStats(catalog.path)

    @edge
    def GetStats(self, request, context) -> stats_pb2.StatsReply:
        sid = self.catalog.resolve(request.snapshot).id if request.snapshot else ""
        vault, nodes, snap = self.stats.usage(sid, request.node)
        reply = stats_pb2.StatsReply(nodes=[usage_pb(u) for u in nodes])
        if vault is not None:
            reply.vault.CopyFrom(usage_pb(vault))
        if snap is not None:
            reply.snapshot.CopyFrom(usage_pb(snap))
        return reply

    @edge
    def GetChunkSizes(self, request, context) -> stats_pb2.ChunkSizesReply:
        ids = list(request.chunk_ids)
        ingest.check_ids(ids, "ChunkSizesRequest.chunk_ids", IDS_PER_MESSAGE)
        return stats_pb2.ChunkSizesReply(sizes=self.stats.chunk_sizes(ids))
