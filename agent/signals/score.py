"""A snapshot's ransomware score: the numbers of SignalSummary and the named reasons
(issue 18; FORMAT.md "Ransomware signals").

:class:`Tally` counts, while the backup runs, the files and bytes each scoring measure
(agent.signals.file_stats) and the ransom-note directories (agent.signals.names) were seen
in; :func:`summarize` turns it and the baseline's :class:`Totals` into a :class:`Summary`:
every measure a fraction in ppm of the snapshot's files or of its bytes, whichever is
larger (``renamed_ext``: of the previous snapshot's files). The score is the largest
scoring measure (protos/contract.py); :func:`reasons` names those at or above a threshold.
The vault judges the same numbers again under its own policy (vault.toml ``[signals]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bulwark.agent.format.signal_summary import Summary
from bulwark.protos.contract import (
    PPM,
    SIGNAL_DEFAULT_NOTE_DIRS,
    SIGNAL_DEFAULT_THRESHOLD_PPM,
    SIGNAL_SCORING_MEASURES,
)

#: Ransom-note directories kept by name for the summary count (bounded memory).
NOTE_DIRS_MAX = 1000


@dataclass
class Tally:
    """Per-measure (files, bytes) counts and note directories of one backup run."""

    files: dict[str, int] = field(default_factory=dict)
    bytes: dict[str, int] = field(default_factory=dict)
    note_dirs: set[bytes] = field(default_factory=set)

    def count(self, flags: tuple[str, ...], size: int) -> None:
        for flag in flags:
            self.files[flag] = self.files.get(flag, 0) + 1
            self.bytes[flag] = self.bytes.get(flag, 0) + size

    def note(self, directory: bytes) -> None:
        if len(self.note_dirs) < NOTE_DIRS_MAX:
            self.note_dirs.add(directory)


def _ppm(part: int, whole: int) -> int:
    return min(PPM, part * PPM // whole) if whole > 0 else 0


def summarize(tally: Tally, totals, new_bytes: int) -> Summary:
    """The summary of a run (``totals``: agent.signals.baseline.Totals)."""
    files, size = totals.files, totals.bytes

    def share(measure: str) -> int:
        return max(_ppm(tally.files.get(measure, 0), files),
                   _ppm(tally.bytes.get(measure, 0), size))

    scoring = {m: share(m) for m in SIGNAL_SCORING_MEASURES if m != "renamed_ext"}
    scoring["renamed_ext"] = _ppm(totals.renamed_ext, totals.previous_files)
    return Summary(
        score_ppm=max(scoring.values()),
        has_baseline=totals.has_baseline,
        changed_ppm=_ppm(totals.changed, files),
        deleted_ppm=_ppm(totals.deleted, max(totals.previous_files, 1)),
        renamed_ppm=_ppm(totals.renamed, files),
        new_ppm=_ppm(totals.new, files),
        new_bytes_ppm=_ppm(new_bytes, size),
        ransom_note_dirs=len(tally.note_dirs),
        **{f"{m}_ppm": v for m, v in scoring.items()},
    )


def reasons(summary: Summary, threshold_ppm: int = SIGNAL_DEFAULT_THRESHOLD_PPM,
            note_dirs: int = SIGNAL_DEFAULT_NOTE_DIRS) -> list[str]:
    """The measures at or above ``threshold_ppm``, named with their value (e.g.
    ``format_lost 31.2% >= 2.5%``), and the ransom notes if in ``note_dirs`` directories."""
    out = [f"{m} {v / 1e4:.1f}% >= {threshold_ppm / 1e4:.1f}%"
           for m, v in summary.measures().items() if v >= threshold_ppm]
    if note_dirs and summary.ransom_note_dirs >= note_dirs:
        out.append(f"ransom notes in {summary.ransom_note_dirs} directories")
    return out
