"""The gRPC edge of ``vault.catalog.check``: ``bulwark.v1.Check`` (operator and officer)."""

from __future__ import annotations

from bulwark.protos.bulwark.v1 import check_pb2, check_pb2_grpc
from bulwark.vault.catalog.check import check
from bulwark.vault.catalog.db import Catalog
from bulwark.vault.rpc.status import edge
from bulwark.vault.store.base import ChunkStore


class CheckService(check_pb2_grpc.CheckServicer):
    def __init__(self, store: ChunkStore, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    @edge
    def CheckCatalog(self, request, context) -> check_pb2.CheckReply:
        report = check(self.catalog, self.store)
        return check_pb2.CheckReply(
            chunks=report.chunks, blobs=report.blobs, snapshots=report.snapshots,
            problem_count=report.problem_count,
            problems=[check_pb2.CheckProblem(kind=p.kind, detail=p.detail,
                                             chunk_id=p.chunk_id, snapshot=p.snapshot)
                      for p in report.problems],
            reclaimable_count=report.reclaimable_count,
            reclaimable_bytes=report.reclaimable_bytes, reclaimable=report.reclaimable)
