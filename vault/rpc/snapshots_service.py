"""The gRPC edge of snapshot queries: ``bulwark.v1.Snapshots``.

Decodes the request into a ``vault.catalog.query.SnapshotQuery``, narrows a node caller to
its own snapshots (``ingest.node_filter``), and streams one ``Snapshot`` per match; the hostname
a host filter needs is read from the signed header, which the catalog keeps verbatim.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import DecodeError

from bulwark.protos.bulwark.v1 import snapshots_pb2_grpc, vault_pb2
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.catalog.query import SnapshotQuery, query_snapshots
from bulwark.vault.ingest import rules as ingest
from bulwark.vault.rpc.identity import caller_of
from bulwark.vault.rpc.status import edge
from bulwark.vault.rpc.vault_service import snapshot_pb


def host_of(record: SnapshotRecord) -> str:
    try:
        return vault_pb2.SnapshotHeader.FromString(record.header).hostname
    except DecodeError:  # the vault checked the header at commit; never expected
        return ""


class SnapshotsService(snapshots_pb2_grpc.SnapshotsServicer):
    """``bulwark.v1.Snapshots``. Thread-safe: the catalog serializes each page read."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog

    @edge
    def QuerySnapshots(self, request, context) -> Iterator[vault_pb2.Snapshot]:
        node = ingest.node_filter(caller_of(context), request.node) or ""
        query = SnapshotQuery(
            node=node,
            hosts=tuple(request.hosts),
            tag_sets=tuple(tuple(ts.tags) for ts in request.tag_sets),
            paths=tuple(request.paths),
            newest_first=request.newest_first,
            limit=request.limit,
        )
        for record in query_snapshots(self.catalog, query, host_of):
            yield snapshot_pb(record)
