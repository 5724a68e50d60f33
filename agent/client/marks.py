"""``bulwark.v1.Signals``: an officer sets or clears a snapshot's ransomware-signal mark."""

from __future__ import annotations

from bulwark.agent.client.vault import VaultClient
from bulwark.protos.bulwark.v1 import signals_pb2, signals_pb2_grpc


def set_mark(client: VaultClient, ref: str, suspicious: bool, reason: str) -> dict[str, object]:
    """Mark (``suspicious``) or clear the snapshot ``ref``; the mark as the vault now has it."""
    stub = signals_pb2_grpc.SignalsStub(client.channel)
    with client.translate("SetMark"):
        m = stub.SetMark(signals_pb2.SetMarkRequest(ref=ref, suspicious=suspicious,
                                                    reason=reason))
    return {"suspicious": m.suspicious, "score": m.score_ppm / 1e6, "reasons": list(m.reasons),
            "set_by": m.set_by, "note": m.note}
