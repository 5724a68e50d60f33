"""The key inventory and node retirement (``bulwark.v1.KeyAdmin``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bulwark.agent.client.vault import VaultClient
from bulwark.protos.bulwark.v1 import key_admin_pb2, key_admin_pb2_grpc


def key_fingerprint(public_key: bytes) -> str:
    """``SHA256:<hex>`` of a raw Ed25519 public key (what ``keys list`` shows)."""
    return "SHA256:" + hashlib.sha256(public_key).hexdigest()


@dataclass(frozen=True)
class NodeKey:
    node: str
    fingerprint: str
    public_key: str  # hex
    enrolled_ns: int
    snapshots: int
    last_snapshot_ns: int
    retired_ns: int
    retired_by: str
    reason: str


@dataclass(frozen=True)
class EscrowEntry:
    name: str
    stored_ns: int
    size: int
    last_read_ns: int


def _node(pb: key_admin_pb2.NodeKey) -> NodeKey:
    return NodeKey(pb.node, key_fingerprint(pb.signing_public_key), pb.signing_public_key.hex(),
                   pb.enrolled_ns, pb.snapshots, pb.last_snapshot_ns, pb.retired_ns,
                   pb.retired_by, pb.reason)


def list_keys(client: VaultClient) -> tuple[list[NodeKey], list[EscrowEntry]]:
    stub = key_admin_pb2_grpc.KeyAdminStub(client.channel)
    with client.translate("ListKeys"):
        reply = stub.ListKeys(key_admin_pb2.ListKeysRequest())
    return ([_node(n) for n in reply.nodes],
            [EscrowEntry(e.name, e.stored_ns, e.size, e.last_read_ns) for e in reply.escrow])


def retire_node(client: VaultClient, node: str, reason: str) -> NodeKey:
    """Retire ``node``: the vault refuses its certificates from now on and keeps its key.
    A node that is not enrolled is NOT_FOUND (SnapshotNotFound, the edge's one mapping)."""
    stub = key_admin_pb2_grpc.KeyAdminStub(client.channel)
    with client.translate("RetireNode"):
        return _node(stub.RetireNode(key_admin_pb2.RetireNodeRequest(node=node, reason=reason)))
