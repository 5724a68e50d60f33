"""The gRPC edge for an air-gap vault's own operators: ``bulwark.v1.Airgap``.

Answers are plain dicts (what ``vaultctl airgap ... --json`` prints); failures map through
``client.status`` like every call (a vault that is not an air-gap vault answers
FAILED_PRECONDITION, which becomes ``RetentionRefused``'s "refused: ..." with exit 1).
"""

from __future__ import annotations

import grpc

from bulwark.agent.client.channel import channel_for
from bulwark.agent.client.status import translate
from bulwark.protos.bulwark.v1 import replication_pb2, replication_pb2_grpc


def window_dict(r: replication_pb2.WindowResult) -> dict:
    return {
        "trigger": r.trigger, "opened_ns": r.opened_ns, "closed_ns": r.closed_ns,
        "outcome": r.outcome, "snapshots": r.snapshots, "chunks": r.chunks, "bytes": r.bytes,
        "refused": [{"snapshot": x.snapshot_id, "node": x.node, "reason": x.reason}
                    for x in r.refused],
        "pending": r.pending, "lag_s": r.lag_ns / 1e9, "error": r.error,
    }


class AirgapClient:
    def __init__(self, channel: grpc.Channel, address: str = "") -> None:
        self.address = address
        self._channel = channel
        self._stub = replication_pb2_grpc.AirgapStub(channel)

    @classmethod
    def from_config(cls, config) -> AirgapClient:
        return cls(channel_for(config), config.vault_address)

    def close(self) -> None:
        self._channel.close()

    def status(self) -> dict:
        with translate("GetAirgapStatus", self.address):
            s = self._stub.GetAirgapStatus(replication_pb2.AirgapStatusRequest())
        return {
            "primary": s.primary, "window_open": s.window_open,
            "next_window_ns": s.next_window_ns,
            "cursor": {"time_ns": s.cursor.time_ns, "snapshot": s.cursor.id},
            "lag_s": s.lag_ns / 1e9, "lag_limit_s": s.lag_limit_ns / 1e9,
            "lag_alert": s.lag_ns > s.lag_limit_ns,
            "last": window_dict(s.last) if s.HasField("last") else None,
            "last_success_ns": s.last_success_ns, "pinned_nodes": s.pinned_nodes,
        }

    def sync_now(self, seconds: int) -> dict:
        with translate("SyncNow", self.address):
            return window_dict(self._stub.SyncNow(replication_pb2.SyncNowRequest(
                seconds=seconds)))
