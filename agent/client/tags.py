"""Tags added to a snapshot in the vault (``bulwark.v1.Tags``): the node's signed tags never
change; these are kept beside them, audited by the vault."""

from __future__ import annotations

from collections.abc import Sequence

from bulwark.agent.client.vault import SnapshotInfo, VaultClient, snapshot_info
from bulwark.protos.bulwark.v1 import tags_pb2, tags_pb2_grpc


def set_tags(client: VaultClient, snapshot_id: str, add: Sequence[str],
             remove: Sequence[str]) -> SnapshotInfo:
    """Add then remove tags of ``snapshot_id``; the snapshot as it now is. Removing a tag the
    node signed is refused (RetentionRefused, exit 1)."""
    stub = tags_pb2_grpc.TagsStub(client.channel)
    with client.translate("SetTags"):
        return snapshot_info(stub.SetTags(tags_pb2.SetTagsRequest(
            snapshot=snapshot_id, add=list(add), remove=list(remove))))
