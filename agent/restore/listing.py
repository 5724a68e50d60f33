"""What a snapshot holds, read from its manifest stream: ``ls`` and ``find``.

Both work on :meth:`agent.restore.reader.Manifest.entries`, one entry at a time, so memory
does not grow with the snapshot's file count. Paths are shown as the operator gave them at
backup time: absolute, '/'-separated (``/data/ckpt/model.safetensors``), in the one text form
of agent.format.pathtext (a byte that is not UTF-8 as ``\\xNN``, a backslash doubled), which
``ls PATH`` and ``restore --path`` read back to the same bytes (:func:`shown`).

Manifest order (components compared as bytes, a directory before its contents) keeps every
subtree contiguous: ``ls PATH`` stops reading at the first entry past PATH's subtree.
"""

from __future__ import annotations

import fnmatch
import re
import stat
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from bulwark.agent.errors import SnapshotNotFound, UnsafePathError, UsageError
from bulwark.agent.format.manifest import Entry
from bulwark.agent.format.pathsafe import check_manifest_path
from bulwark.agent.format.pathtext import parse_path, show_path

#: ``stat.filemode`` type bits by entry type name; an unknown type shows as '?'.
_TYPE_BITS = {
    "DIR": stat.S_IFDIR, "FILE": stat.S_IFREG, "SYMLINK": stat.S_IFLNK,
    "FIFO": stat.S_IFIFO, "SOCKET": stat.S_IFSOCK, "CHAR_DEVICE": stat.S_IFCHR,
    "BLOCK_DEVICE": stat.S_IFBLK,
}


def shown(path: str) -> str:
    """``/`` + the manifest path in its text form (:func:`agent.format.pathtext.show_path`):
    printable on any terminal and in JSON, and read back to the same bytes by
    :func:`manifest_path` (``ls PATH``, ``restore --path``)."""
    return "/" + show_path(path)


def manifest_path(path: str, flag: str = "PATH") -> str:
    """The manifest form of a path as ``ls`` shows it (its text form, :func:`shown`) or as
    given relative to the snapshot's root: no leading or trailing '/'; '' is the root.
    UsageError (exit 2) names a path that could never be in a manifest (``..``, empty
    components); ConfigError (exit 2) a backslash that is not one of the two escapes."""
    wanted = parse_path(path, flag).strip("/")
    if wanted:
        try:
            check_manifest_path(wanted)
        except UnsafePathError as exc:
            raise UsageError(f"{flag} {path!r}: {exc}") from None
    return wanted


def mode_text(entry: Entry) -> str:
    """``drwxr-xr-x``-style type and permission bits."""
    bits = _TYPE_BITS.get(entry.type.name)
    text = stat.filemode((bits or 0) | entry.mode)
    return text if bits else "?" + text[1:]


@dataclass(frozen=True)
class Listed:
    """One line of ``ls``/``find`` output."""

    entry: Entry
    stored: int | None = None  # stored (blob) bytes, ``ls --long`` (:func:`stored_share`)

    def summary(self, long: bool = False) -> dict[str, object]:
        e = self.entry
        out: dict[str, object] = {
            "path": shown(e.path), "type": e.type.name.lower(), "mode": f"{e.mode:04o}",
            "size": e.size, "mtime_ns": e.mtime_ns,
        }
        if e.link_target:
            out["link_target"] = show_path(e.link_target)
        if long:
            out["chunks"] = len(e.chunks)
            if self.stored is not None:
                out["stored"] = self.stored
            out["packed"] = bool(e.chunks) and (e.offset > 0 or e.size < e.chunks[0].size)
        return out


def list_entries(entries: Iterable[Entry], path: str, recursive: bool) -> Iterator[Entry]:
    """The entry at ``path`` (manifest form, '' for the root) and the entries below it: its
    direct children, or every descendant with ``recursive``. SnapshotNotFound, once the
    stream has passed where it would be, if ``path`` is not in the snapshot."""
    prefix = path + "/" if path else ""
    found = not path
    for e in entries:
        if e.path == path:
            found = True
            yield e
            continue
        if not e.path.startswith(prefix):
            if found:  # past the subtree: it is contiguous in manifest order
                return
            continue
        if recursive or "/" not in e.path[len(prefix):]:
            yield e
    if not found:
        raise SnapshotNotFound(f"path {shown(path)} is not in this snapshot")


def stored_share(entry: Entry, blob_sizes: dict[bytes, int]) -> int:
    """The stored (blob) bytes of ``entry``'s content: each distinct chunk once, at its blob
    size times the share of its plaintext the file uses. A file's own chunks count whole; a
    small file packed with others (FORMAT.md "Packs") counts its slice of the pack's blob,
    so the shares of a pack's files add up to about the pack's blob."""
    used: dict[bytes, int] = {}
    start, end, position = entry.offset, entry.offset + entry.size, 0
    for ref in entry.chunks:
        overlap = max(0, min(end, position + ref.size) - max(start, position))
        used[ref.id] = min(ref.size, used.get(ref.id, 0) + overlap)
        position += ref.size
    sizes = {ref.id: ref.size for ref in entry.chunks}
    return sum(blob_sizes.get(cid, 0) * n // sizes[cid] for cid, n in used.items()
               if sizes[cid])


def with_stored(entries: Iterable[Entry], lookup: Callable[[list[bytes]], dict[bytes, int]],
                batch_ids: int) -> Iterator[tuple[Entry, int]]:
    """``(entry, stored_share)`` for every entry, in order. Entries are held back until about
    ``batch_ids`` distinct chunk ids are pending, then ``lookup`` (the vault's sizes) is asked
    for all of them at once: memory is bounded by ``batch_ids``, not by the file count."""
    pending: list[Entry] = []
    ids: dict[bytes, None] = {}
    for e in entries:
        pending.append(e)
        ids.update(dict.fromkeys(r.id for r in e.chunks))
        if len(ids) >= batch_ids:
            sizes = lookup(list(ids))
            yield from ((p, stored_share(p, sizes)) for p in pending)
            pending, ids = [], {}
    sizes = lookup(list(ids)) if ids else {}
    yield from ((p, stored_share(p, sizes)) for p in pending)


_BRACKET = re.compile(r"\[!?\]?[^\]]*\]")


def check_pattern(pattern: str) -> None:
    """UsageError (exit 2) for a pattern that cannot match as meant: empty, or with a '['
    that is never closed (restic refuses those too: ``filepath.ErrBadPattern``)."""
    if not pattern:
        raise UsageError("PATTERN: empty pattern")
    if "[" in _BRACKET.sub("", pattern):
        raise UsageError(f"PATTERN {pattern!r}: '[' without a closing ']'")


def matcher(patterns: Iterable[str], ignore_case: bool = False):
    """A predicate on entries: a pattern with '/' matches the whole shown path (``/data/*.bin``;
    '*' crosses '/' as in fnmatch), one without matches the last component, as restic's find
    does. Both are matched in their shown form (:func:`shown`), so ``bad\\xffname`` finds a
    name with the byte 0xff. Patterns are checked first (:func:`check_pattern`)."""
    compiled = []
    for pattern in patterns:
        check_pattern(pattern)
        flags = re.IGNORECASE if ignore_case else 0
        compiled.append(("/" in pattern, re.compile(fnmatch.translate(pattern), flags)))

    def match(entry: Entry) -> bool:
        full = shown(entry.path)
        name = full.rsplit("/", 1)[-1]
        return any(regex.match(full if whole else name) for whole, regex in compiled)

    return match
