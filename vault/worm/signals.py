"""Ransomware signals on the vault's side (issue 18; FORMAT.md "Ransomware signals").

The node signs a keyless summary of numbers into each snapshot header (SignalSummary); the
vault judges it under its own policy, ``[signals]`` in vault.toml::

    [signals]
    threshold = 0.025      # a scoring measure at or above this share of files or bytes
    ransom_note_dirs = 2   # ransom-note-like files new in this many directories (0: off)
    protect_clean = 3      # the node's last clean snapshots whose retention is extended
    protect_days = 90      # ... to at least this many days from the mark
    [signals.thresholds]   # optional, per measure (high_entropy, format_lost,
    format_lost = 0.05     # exponents_moved, wiped, renamed_ext)

and adds what it sees without keys: the share of the commit's chunk ids that no earlier
snapshot of the node referenced (informational: a fine-tune rewrites every chunk too).

A suspicious snapshot is committed in full (it is evidence) with its :class:`Mark`; the
servicer audits and logs the mark, counts it in a metric, and :func:`clean_to_protect` names
the node's last clean snapshots whose retention is then extended, so an attacker's patience
cannot let them expire. A snapshot without a summary (an older agent, signals off) is
unmarked. An officer may set or clear a mark by hand (``bulwark.v1.Signals/SetMark``).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

from bulwark.protos.contract import (
    PPM,
    SIGNAL_DEFAULT_NOTE_DIRS,
    SIGNAL_DEFAULT_THRESHOLD_PPM,
    SIGNAL_SCORING_MEASURES,
)
from bulwark.vault.worm.retention import DAY_NS

#: The snapshot reference of the newest snapshot not marked suspicious.
LATEST_CLEAN = "latest-clean"
KEYS = {"threshold", "ransom_note_dirs", "protect_clean", "protect_days", "thresholds"}


@dataclass(frozen=True)
class SignalPolicy:
    """``[signals]``: thresholds in ppm."""

    threshold_ppm: int = SIGNAL_DEFAULT_THRESHOLD_PPM
    measure_ppm: dict[str, int] = field(default_factory=dict)  # per-measure overrides
    ransom_note_dirs: int = SIGNAL_DEFAULT_NOTE_DIRS
    protect_clean: int = 3
    protect_days: int = 90

    def threshold(self, measure: str) -> int:
        return self.measure_ppm.get(measure, self.threshold_ppm)


@dataclass(frozen=True)
class Mark:
    """A snapshot's mark as the catalog keeps it."""

    suspicious: bool = False
    score_ppm: int = 0
    reasons: tuple[str, ...] = ()
    set_by: str = ""  # "" the policy at commit; else the officer who set or cleared it
    note: str = ""
    set_ns: int = 0
    new_chunks_ppm: int = 0


def judge(measures: dict[str, int] | None, note_dirs: int, new_chunks_ppm: int,
          policy: SignalPolicy, now_ns: int) -> Mark:
    """The mark of a snapshot whose header carried ``measures`` (ppm by name; None: no
    summary) and ``note_dirs``."""
    if measures is None:
        return Mark(new_chunks_ppm=new_chunks_ppm, set_ns=now_ns)
    score = max((measures.get(m, 0) for m in SIGNAL_SCORING_MEASURES), default=0)
    reasons = [f"{m} {measures.get(m, 0) / 1e4:.1f}% >= {policy.threshold(m) / 1e4:.1f}%"
               for m in SIGNAL_SCORING_MEASURES if measures.get(m, 0) >= policy.threshold(m)]
    if policy.ransom_note_dirs and note_dirs >= policy.ransom_note_dirs:
        reasons.append(f"ransom notes in {note_dirs} directories")
    if reasons:
        reasons.append(f"new chunks {new_chunks_ppm / 1e4:.1f}%")
    return Mark(bool(reasons), score, tuple(reasons), set_ns=now_ns,
                new_chunks_ppm=new_chunks_ppm)


def protect_until(policy: SignalPolicy, now_ns: int) -> int:
    """The retain-until the node's last clean snapshots get when one is marked."""
    return now_ns + policy.protect_days * DAY_NS


def clean_to_protect(records, policy: SignalPolicy) -> list:
    """Of ``records`` (one node's snapshots, newest first), the last ``protect_clean``
    that are not marked suspicious."""
    clean = [r for r in records if not r.mark.suspicious]
    return clean[: policy.protect_clean]


def parse_signals(reader) -> SignalPolicy:
    """``[signals]`` from a vault.config reader; fractions in [0, 1], counts >= 0."""
    values = {}
    doc = reader.doc.get("signals", {})
    values["threshold_ppm"] = _share(reader, "signals.threshold", doc.get(
        "threshold", SIGNAL_DEFAULT_THRESHOLD_PPM / PPM))
    table = doc.get("thresholds", {})
    if not isinstance(table, dict):
        raise reader.fail("signals.thresholds", "must be a table of measure = share")
    per = {}
    for name, value in table.items():
        if name not in SIGNAL_SCORING_MEASURES:
            raise reader.fail(f"signals.thresholds.{name}", "unknown measure (one of "
                              f"{', '.join(SIGNAL_SCORING_MEASURES)})")
        per[name] = _share(reader, f"signals.thresholds.{name}", value)
    for key, default, high in (("ransom_note_dirs", SIGNAL_DEFAULT_NOTE_DIRS, 1_000_000),
                               ("protect_clean", 3, 1000), ("protect_days", 90, 36_500)):
        values[key] = reader.get("signals", key, int, default)
        if not 0 <= values[key] <= high:
            raise reader.fail(f"signals.{key}", f"must be between 0 and {high}, "
                              f"got {values[key]}")
    return SignalPolicy(measure_ppm=per, **values)


def _share(reader, key: str, value: object) -> int:
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value <= 1:
        raise reader.fail(key, f"must be a share in (0, 1], e.g. 0.025, got {value!r}")
    return round(value * PPM)


def mark_json(mark: Mark) -> str:
    """The catalog's (and the bucket record's) form of a mark: canonical JSON."""
    return json.dumps(dataclasses.asdict(mark), sort_keys=True, separators=(",", ":"))


def mark_from_json(text: str) -> Mark:
    """Inverse of :func:`mark_json`; ``""`` (a snapshot committed before marks) is unmarked."""
    if not text:
        return Mark()
    doc = json.loads(text)
    doc["reasons"] = tuple(doc.get("reasons", ()))
    return Mark(**{k: v for k, v in doc.items() if k in _MARK_FIELDS})


_MARK_FIELDS = {f.name for f in dataclasses.fields(Mark)}
