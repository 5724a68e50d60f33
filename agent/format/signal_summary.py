"""The keyless numeric summary of a snapshot's ransomware signals (FORMAT.md "Ransomware
signals"): ``bulwark.v1.SignalSummary``, signed into the snapshot header (field 14).

Numbers only, every fraction in parts per million: no path, no name, nothing of the content
finer than these. agent.signals.score computes them; the vault reads the same message.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

from bulwark.protos.bulwark.v1 import signals_pb2
from bulwark.protos.contract import SIGNAL_SCORING_MEASURES, SIGNAL_SUMMARY_VERSION


@dataclass(frozen=True)
class Summary:
    """SignalSummary (signals.proto) as the domain type; fractions in ppm."""

    version: int = SIGNAL_SUMMARY_VERSION
    score_ppm: int = 0
    has_baseline: bool = False
    changed_ppm: int = 0
    deleted_ppm: int = 0
    renamed_ppm: int = 0
    new_ppm: int = 0
    new_bytes_ppm: int = 0
    high_entropy_ppm: int = 0
    format_lost_ppm: int = 0
    exponents_moved_ppm: int = 0
    wiped_ppm: int = 0
    renamed_ext_ppm: int = 0
    ransom_note_dirs: int = 0

    def measures(self) -> dict[str, int]:
        """The scoring measures by name, in ppm."""
        return {m: getattr(self, f"{m}_ppm") for m in SIGNAL_SCORING_MEASURES}

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def summary_pb(summary: Summary) -> signals_pb2.SignalSummary:
    return signals_pb2.SignalSummary(**summary.as_dict())


def summary_from_pb(pb: signals_pb2.SignalSummary) -> Summary:
    return Summary(**{f.name: getattr(pb, f.name) for f in fields(Summary)})
