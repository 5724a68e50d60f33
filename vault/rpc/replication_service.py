"""The gRPC edge of ``bulwark.v1.Replication``: the replica role's read-only snapshot feed.

Served by every vault; the authorization table lets only the replica role call it. It reads
the catalog and the key registry and writes nothing. Stream order (replication.proto): one
FeedInfo, then per snapshot a FeedSnapshot and its chunk ids in batches of at most
``IDS_PER_MESSAGE``. Snapshots are read a page at a time, so the server holds one page of
records and one snapshot's id list, however long the feed.
"""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import replication_pb2, replication_pb2_grpc, vault_pb2
from bulwark.protos.contract import IDS_PER_MESSAGE
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.errors import InvalidRequest, NotFound
from bulwark.vault.keys.registry import Registry
from bulwark.vault.rpc.status import edge
from bulwark.vault.rpc.vault_service import snapshot_pb
from bulwark.vault.worm.clock import Clock

PAGE = 100


class ReplicationService(replication_pb2_grpc.ReplicationServicer):
    def __init__(self, catalog: Catalog, registry: Registry, clock: Clock) -> None:
        self.catalog, self.registry, self.clock = catalog, registry, clock

    @edge
    def Feed(self, request, context):
        after = None
        if request.after.id:
            if len(request.after.id) != 64:
                raise InvalidRequest(f"FeedRequest.after.id: {request.after.id!r} is not a "
                                     "64-digit snapshot id")
            after = (request.after.time_ns, request.after.id)
        pending, oldest = self.catalog.count_after(after)
        yield replication_pb2.FeedMessage(info=replication_pb2.FeedInfo(
            now_ns=self.clock.now_ns(), pending=pending, oldest_pending_ns=oldest))
        left = request.limit or pending
        while left > 0:
            page = self.catalog.snapshot_page(None, False, after, min(PAGE, left))
            if not page:
                return
            for rec in page:
                after = (rec.time_ns, rec.id)
                try:
                    ids = self.catalog.snapshot_chunk_ids(rec.id)
                except NotFound:  # deleted since the page was read: it is not in the feed
                    continue
                key = self.registry.node_key(rec.node) or b""
                yield replication_pb2.FeedMessage(snapshot=replication_pb2.FeedSnapshot(
                    snapshot=snapshot_pb(rec), node_public_key=key))
                for i in range(0, len(ids), IDS_PER_MESSAGE):
                    yield replication_pb2.FeedMessage(
                        chunks=vault_pb2.ChunkIdBatch(chunk_ids=ids[i:i + IDS_PER_MESSAGE]))
            left -= len(page)
