"""Storage statistics the vault computes without keys, and stored chunk sizes
(``bulwark.v1.Stats``), and the per-node quotas (``bulwark.v1.Quotas``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from bulwark.agent.client.vault import VaultClient, batches
from bulwark.protos.bulwark.v1 import quota_pb2, quota_pb2_grpc, stats_pb2, stats_pb2_grpc
from bulwark.protos.contract import IDS_PER_MESSAGE


@dataclass(frozen=True)
class Usage:
    """One scope's sizes (``vault``, ``node:<name>``, ``snapshot:<id>``); stored bytes are
    blob bytes as kept, each distinct chunk once; ``unique_*``: what no snapshot outside the
    scope references (freed by deleting the scope, once its locks allow, and a prune)."""

    scope: str
    snapshots: int
    logical_bytes: int
    chunks: int
    stored_bytes: int
    unique_chunks: int
    unique_bytes: int

    def as_dict(self) -> dict:
        return asdict(self)


def _usage(pb: stats_pb2.Usage) -> Usage:
    return Usage(pb.scope, pb.snapshots, pb.logical_bytes, pb.chunks, pb.stored_bytes,
                 pb.unique_chunks, pb.unique_bytes)


def chunk_sizes(client: VaultClient, chunk_ids: Iterable[bytes]) -> dict[bytes, int]:
    """The stored (blob) size of each distinct id, asking ``IDS_PER_MESSAGE`` ids a call;
    0 for a chunk the vault does not hold."""
    stub = stats_pb2_grpc.StatsStub(client.channel)
    out: dict[bytes, int] = {}
    for batch in batches(dict.fromkeys(chunk_ids), IDS_PER_MESSAGE):
        with client.translate("GetChunkSizes"):
            reply = stub.GetChunkSizes(stats_pb2.ChunkSizesRequest(chunk_ids=batch))
        out.update(zip(batch, reply.sizes, strict=True))
    return out


def get_stats(client: VaultClient, snapshot_id: str = "", node: str = "",
              ) -> tuple[Usage | None, list[Usage], Usage | None]:
    """(vault, nodes, snapshot) as the vault reports them; vault is None when ``node`` is
    given, snapshot None without ``snapshot_id``."""
    stub = stats_pb2_grpc.StatsStub(client.channel)
    with client.translate("GetStats"):
        reply = stub.GetStats(stats_pb2.StatsRequest(snapshot=snapshot_id, node=node))
    return (_usage(reply.vault) if reply.HasField("vault") else None,
            [_usage(u) for u in reply.nodes],
            _usage(reply.snapshot) if reply.HasField("snapshot") else None)


def get_quotas(client: VaultClient, node: str = "") -> dict:
    """The vault's per-node quotas ([limits] in vault.toml; 0 means none) and each node's
    usage against them (``bulwark.v1.Quotas``), as ``stats --json`` prints them."""
    stub = quota_pb2_grpc.QuotasStub(client.channel)
    with client.translate("GetQuotas"):
        reply = stub.GetQuotas(quota_pb2.QuotasRequest(node=node))
    return {"quotas": {"node_stored_bytes": reply.node_stored_bytes,
                       "node_uncommitted_bytes": reply.node_uncommitted_bytes},
            "quota_usage": [{"node": u.node, "stored_bytes": u.stored_bytes,
                             "uncommitted_bytes": u.uncommitted_bytes} for u in reply.usage]}
