"""Whether the vault's catalog and chunk store agree (``bulwark.v1.Check``)."""

from __future__ import annotations

from bulwark.agent.client.vault import VaultClient
from bulwark.protos.bulwark.v1 import check_pb2, check_pb2_grpc


def check_catalog(client: VaultClient) -> dict:
    """The vault's comparison of catalog and store, as ``vaultctl check --json`` prints it:
    counts, ``problems`` (each ``{kind, detail, chunk, snapshot}``; ``problem_count`` counts
    them all, the list holds the first 1000) and the ``reclaimable`` blobs without a row."""
    stub = check_pb2_grpc.CheckStub(client.channel)
    with client.translate("CheckCatalog"):
        reply = stub.CheckCatalog(check_pb2.CheckRequest())
    return {
        "agree": reply.problem_count == 0,
        "chunks": reply.chunks, "blobs": reply.blobs, "snapshots": reply.snapshots,
        "problem_count": reply.problem_count,
        "problems": [{"kind": p.kind, "detail": p.detail, "chunk": p.chunk_id.hex(),
                      "snapshot": p.snapshot} for p in reply.problems],
        "reclaimable_count": reply.reclaimable_count,
        "reclaimable_bytes": reply.reclaimable_bytes,
        "reclaimable": [c.hex() for c in reply.reclaimable],
    }
