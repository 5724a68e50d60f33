"""The ransomware signals of one backup run, as the run meets its files (issue 18).

agent.backup.run calls, per regular file: :meth:`Signals.open_file` (a read file: the
format check of its first and last bytes, with ``pread`` on the descriptor it reads) or
:meth:`Signals.small_file` (a small file read ahead into memory), adds each sealed chunk's
facts to the returned :class:`FileFacts`, and then :meth:`Signals.file_done` in manifest
order, for every file, read or unchanged: that compares a read file with the node's previous
snapshot (agent.signals.baseline), counts it in the tally, and returns the FileSignals its
manifest entry carries. :meth:`Signals.summary` gives the header's numbers once the run's
files are all done; :meth:`Signals.commit` keeps this run as the baseline after the vault
committed it.

A disabled collector (``enabled=False``) does nothing and returns None everywhere; the
codec then computes no facts either (agent.backup.seal_lanes), which is how the bench
measures what the signals cost.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from bulwark.agent.format.facts import byte_entropy_mbit
from bulwark.agent.format.manifest import FileSignals
from bulwark.agent.format.signal_summary import Summary
from bulwark.agent.signals.baseline import Baseline
from bulwark.agent.signals.file_stats import NOISE_MBIT, FileFacts, FileRecord, compare
from bulwark.agent.signals.formats import HEAD, TAIL, detect
from bulwark.agent.signals.names import is_ransom_note, parent
from bulwark.agent.signals.score import Tally, summarize


class Signals:
    """See the module doc. ``paths`` are the backup's absolute paths (the baseline scope)."""

    def __init__(self, cache_dir: Path, paths: Sequence[str], enabled: bool = True) -> None:
        self.enabled = enabled
        self.tally = Tally()
        self.baseline = Baseline(cache_dir, paths) if enabled else None

    def open_file(self, fd: int, size: int) -> FileFacts | None:
        """Facts for a file about to be read from ``fd`` (its offset is left alone)."""
        if not self.enabled:
            return None
        head = os.pread(fd, HEAD, 0)
        tail = os.pread(fd, TAIL, max(size - TAIL, 0)) if size > HEAD else head[-TAIL:]
        fmt, ok = detect(head, tail, size)
        return FileFacts(fmt, ok)

    def small_file(self, data: bytes) -> FileFacts | None:
        """Facts for a small file whose whole content is ``data`` (it goes into a pack, so
        its own compressibility is unknown: an unrecognised one gets its byte entropy)."""
        if not self.enabled:
            return None
        fmt, ok = detect(data[:HEAD], data[-TAIL:], len(data), whole=data)
        facts = FileFacts(fmt, ok, size=len(data), payload=len(data))
        if not fmt and len(data) >= 256 and byte_entropy_mbit(data) >= NOISE_MBIT:
            facts.high = len(data)
        return facts

    def prefetch(self, paths: Iterable[str]) -> None:
        """The files of the next window (in any order): their previous rows are read in
        batches rather than one query per file (agent.signals.baseline.prefetch)."""
        if self.baseline is not None:
            self.baseline.prefetch([p.encode("utf-8", "surrogateescape") for p in paths])

    def file_done(self, path: str, content_hash: bytes, size: int,
                  facts: FileFacts | None) -> FileSignals | None:
        """One file in manifest order; ``facts`` None: taken unchanged from the file cache
        (or another name of a file already counted). Returns what its entry carries."""
        if self.baseline is None:
            return None
        raw = path.encode("utf-8", "surrogateescape")
        if facts is None:
            # unchanged: the previous numbers, no flags, so an unchanged tree writes the same
            # manifest (and re-sends no manifest chunk)
            kept = self.baseline.previous(raw, content_hash)
            self.baseline.stage(raw, content_hash, kept, size)
            return None if kept is None else _signals(kept, ())
        record = facts.record()
        before = self.baseline.previous(raw)
        if before is None and (not self.baseline.has_previous
                               or self.baseline.has_content(content_hash)):
            # a first backup has nothing to compare with; a move or copy is content the
            # node had before
            flags: tuple[str, ...] = ()
        else:
            flags = compare(record, before)
            if before is None and is_ransom_note(raw, size):
                self.tally.note(parent(raw))
        self.tally.count(flags, size)
        self.baseline.stage(raw, content_hash, record, size)
        return _signals(record, flags)

    def summary(self, new_bytes: int) -> Summary | None:
        if self.baseline is None:
            return None
        return summarize(self.tally, self.baseline.totals(), new_bytes)

    def commit(self) -> None:
        if self.baseline is not None:
            self.baseline.swap()

    def discard(self) -> None:
        if self.baseline is not None:
            self.baseline.discard()

    def close(self) -> None:
        if self.baseline is not None:
            self.baseline.close()





def _signals(record: FileRecord, flags: tuple[str, ...]) -> FileSignals:
    return FileSignals(record.format, record.format_ok, record.stored_ppm, record.high_ppm,
                       record.zero_ppm, record.exp_entropy_mbit, record.exp_mean_milli, flags)
