"""One file's ransomware signals: its chunks' facts summed up, and how it compares with the
same path in the node's previous snapshot (issue 18; FORMAT.md "Ransomware signals").

:class:`FileFacts` collects the codec's facts (agent.format.facts) of a file's chunks as they
are sealed, and the format check of its first and last bytes (agent.signals.formats).
:func:`compare` names the measures a changed file counts in:

* ``high_entropy``: the content is now incompressible noise (>= 7.9 bits per byte in at
  least ``HIGH_SHARE`` of its bytes) in no recognised format, and before it was not (a new
  file counts if it is so at all);
* ``format_lost``: a recognised, sound format before; not now (or another one);
* ``exponents_moved``: a tensor file whose exponent entropy moved by ``EXP_ENTROPY_MOVE``
  bits or whose mean exponent moved by ``EXP_MEAN_MOVE`` (random bits of the same dtype);
* ``wiped``: now mostly all-zero chunks where before it was not, or truncated to less than
  ``TRUNCATED_SHARE`` of its size.

A fine-tune, a converted dtype (fp32 to bf16 keeps the exponent byte) or new data in a
known format counts in none of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from bulwark.agent.format.facts import ChunkFacts
from bulwark.protos.contract import PPM

NOISE_MBIT = 7900
HIGH_SHARE = 0.9
ZERO_SHARE = 0.5
TRUNCATED_SHARE = 1 / 8
EXP_ENTROPY_MOVE = 1.0
EXP_MEAN_MOVE = 3.0


@dataclass(frozen=True, slots=True)
class FileRecord:
    """What the baseline keeps of a file (agent.signals.baseline), all integers."""

    size: int
    format: str = ""
    format_ok: bool = False
    stored_ppm: int = PPM
    high_ppm: int = 0
    zero_ppm: int = 0
    exp_entropy_mbit: int = -1  # -1: not a tensor file
    exp_mean_milli: int = 0


@dataclass(slots=True)
class FileFacts:
    """Facts of one file being read; :meth:`record` once every chunk was added."""

    format: str = ""
    format_ok: bool = False
    size: int = 0
    payload: int = 0
    high: int = 0
    zero: int = 0
    exp_count: int = 0
    exp_entropy: int = 0  # sum of entropy x count
    exp_mean: int = 0  # sum of mean x count

    def add(self, facts: ChunkFacts | None, size: int) -> None:
        """Count one chunk of ``size`` plaintext bytes (``facts`` None: not measured)."""
        self.size += size
        if facts is None:
            self.payload += size
            return
        self.payload += facts.payload_size
        if facts.entropy_mbit >= NOISE_MBIT:
            self.high += size
        if facts.zero:
            self.zero += size
        if facts.exp_count:
            self.exp_count += facts.exp_count
            self.exp_entropy += facts.exp_entropy_mbit * facts.exp_count
            self.exp_mean += facts.exp_mean_milli * facts.exp_count

    def record(self) -> FileRecord:
        size = max(self.size, 1)
        return FileRecord(
            size=self.size, format=self.format, format_ok=self.format_ok,
            stored_ppm=min(PPM, self.payload * PPM // size),
            high_ppm=self.high * PPM // size, zero_ppm=self.zero * PPM // size,
            exp_entropy_mbit=self.exp_entropy // self.exp_count if self.exp_count else -1,
            exp_mean_milli=self.exp_mean // self.exp_count if self.exp_count else 0,
        )


def is_noise(r: FileRecord) -> bool:
    """Incompressible noise in no recognised format."""
    return r.size > 0 and r.high_ppm >= HIGH_SHARE * PPM and not (r.format and r.format_ok)


def compare(now: FileRecord, before: FileRecord | None) -> tuple[str, ...]:
    """The scoring measures a file counts in (see the module doc); ``before`` None: new."""
    if before is None:
        return ("high_entropy",) if is_noise(now) else ()
    flags = []
    if is_noise(now) and not is_noise(before):
        flags.append("high_entropy")
    if before.format and before.format_ok and before.format != "empty" and (
            now.format != before.format or not now.format_ok):
        flags.append("format_lost")
    if now.exp_entropy_mbit >= 0 and before.exp_entropy_mbit >= 0 and (
            abs(now.exp_entropy_mbit - before.exp_entropy_mbit) >= EXP_ENTROPY_MOVE * 1000
            or abs(now.exp_mean_milli - before.exp_mean_milli) >= EXP_MEAN_MOVE * 1000):
        flags.append("exponents_moved")
    if before.size > 0 and (
            (now.zero_ppm >= ZERO_SHARE * PPM and before.zero_ppm < ZERO_SHARE * PPM)
            or now.size < TRUNCATED_SHARE * before.size):
        flags.append("wiped")
    return tuple(flags)
