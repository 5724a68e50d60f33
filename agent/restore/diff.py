"""What changed between two snapshots, from their manifests alone: no file data is read.

The two manifest streams are merged in manifest order (both are sorted by
``path_sort_key``), so memory holds one entry of each, whatever the file count. A file whose
content hash differs is *modified*; its changed bytes are the plaintext bytes of the chunks the
newer version references and the older does not (a one-tensor change in a 400 GB checkpoint
counts a few MiB, not 400 GB); a packed small file counts its whole size. Entries that differ
only in metadata (mode, mtime, owner, xattrs, link group, and any field added to the manifest
entry later: everything but the content fields is compared) are *metadata* changes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from bulwark.agent.format.manifest import Entry, EntryType, path_sort_key
from bulwark.agent.restore.listing import shown

ADDED, REMOVED, MODIFIED, METADATA = "added", "removed", "modified", "metadata"

#: The fields that are a file's content; every other field is metadata.
_CONTENT = {"size": 0, "content_hash": b"", "chunks": (), "offset": 0, "link_target": ""}


@dataclass(frozen=True)
class Change:
    """One path that differs. ``bytes``: the added or removed entry's size, or a modified
    file's changed bytes (see the module docstring); 0 for metadata changes."""

    kind: str
    path: str
    type: str
    bytes: int

    def summary(self) -> dict[str, object]:
        return {"change": self.kind, "path": shown(self.path), "type": self.type,
                "bytes": self.bytes}


@dataclass
class DiffTotals:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        (ADDED, REMOVED, MODIFIED, METADATA), 0))
    bytes: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        (ADDED, REMOVED, MODIFIED), 0))

    def add(self, change: Change) -> None:
        self.counts[change.kind] += 1
        if change.kind in self.bytes:
            self.bytes[change.kind] += change.bytes

    def summary(self) -> dict[str, object]:
        return {kind: {"entries": n, **({"bytes": self.bytes[kind]} if kind in self.bytes
                                        else {})}
                for kind, n in self.counts.items()}


def _type(e: Entry) -> str:
    return e.type.name.lower()


def _content_bytes(old: Entry, new: Entry) -> int:
    if new.type is not EntryType.FILE:
        return new.size
    packed = new.offset > 0 or (len(new.chunks) == 1 and new.size < new.chunks[0].size)
    if packed or old.type is not EntryType.FILE:
        return new.size
    before = {ref.id for ref in old.chunks}
    return sum(ref.size for ref in new.chunks if ref.id not in before)


def _compare(old: Entry, new: Entry) -> Change | None:
    if old.type is not new.type or old.content_hash != new.content_hash \
            or old.link_target != new.link_target or old.size != new.size:
        return Change(MODIFIED, new.path, _type(new), _content_bytes(old, new))
    if dataclasses.replace(old, **_CONTENT) != dataclasses.replace(new, **_CONTENT):
        return Change(METADATA, new.path, _type(new), 0)
    return None


def diff_entries(old: Iterable[Entry], new: Iterable[Entry]) -> Iterator[Change]:
    """Every change from ``old`` to ``new``, in manifest order (a merge of the two sorted
    streams; the decoder has already refused a stream out of order)."""
    olds, news = iter(old), iter(new)
    a, b = next(olds, None), next(news, None)
    while a is not None or b is not None:
        ka = path_sort_key(a.path) if a is not None else None
        kb = path_sort_key(b.path) if b is not None else None
        if b is None or (a is not None and ka < kb):  # type: ignore[operator]
            yield Change(REMOVED, a.path, _type(a), a.size)  # type: ignore[union-attr]
            a = next(olds, None)
        elif a is None or kb < ka:  # type: ignore[operator]
            yield Change(ADDED, b.path, _type(b), b.size)
            b = next(news, None)
        else:
            change = _compare(a, b)
            if change is not None:
                yield change
            a, b = next(olds, None), next(news, None)
