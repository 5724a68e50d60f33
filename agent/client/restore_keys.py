"""Restore key announcements (``bulwark.v1.RestoreKeys``; FORMAT.md "Restore key rotation").

The vault keeps what it is given and cannot sign; ``agent.keys.rotation`` makes and checks
the announcements. A vault that predates the service answers UNIMPLEMENTED: for listing,
that is no announcement at all, so nodes keep backing up to an older vault during an upgrade.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from bulwark.agent.client.vault import VaultClient
from bulwark.protos.bulwark.v1 import restore_keys_pb2, restore_keys_pb2_grpc


@dataclass(frozen=True)
class PublishedKey:
    generation: int
    announcement: bytes
    signature: bytes
    published_ns: int
    published_by: str


def _published(pb: restore_keys_pb2.RestoreKeyRecord) -> PublishedKey:
    return PublishedKey(pb.generation, pb.announcement, pb.signature, pb.published_ns,
                        pb.published_by)


def list_restore_keys(client: VaultClient) -> list[PublishedKey]:
    """Every announcement the vault keeps, oldest first ([] from a vault without them)."""
    stub = restore_keys_pb2_grpc.RestoreKeysStub(client.channel)
    try:
        reply = stub.ListRestoreKeys(restore_keys_pb2.ListRestoreKeysRequest())
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return []
        with client.translate("ListRestoreKeys"):
            raise
    return [_published(k) for k in reply.keys]


def publish_restore_key(client: VaultClient, announcement: bytes,
                        signature: bytes) -> PublishedKey:
    """Have the vault keep ``announcement``; AccessDenied (exit 2) if another one holds
    its generation or this role may not publish."""
    stub = restore_keys_pb2_grpc.RestoreKeysStub(client.channel)
    with client.translate("PublishRestoreKey"):
        return _published(stub.PublishRestoreKey(restore_keys_pb2.PublishRestoreKeyRequest(
            announcement=announcement, signature=signature)))
