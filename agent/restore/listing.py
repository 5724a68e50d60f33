"""What a snapshot holds, read from its manifest stream: ``ls`` and ``find``.

Both work on :meth:`agent.restore.reader.Manifest.entries`, one entry at a time, so memory
does not grow with the snapshot's file count. Paths are shown as the operator gave them at
backup time: absolute, '/'-separated (``/data/ckpt/model.safetensors``); a name that is not
UTF-8 is shown with ``\\xNN`` escapes for its undecodable bytes (:func:`shown`), which
``restore --path`` takes back unchanged only when the name is valid UTF-8.

Manifest order (components compared as bytes, a directory before its contents) keeps every
subtree contiguous: ``ls PATH`` stops reading at the first entry past PATH's subtree.
"""

from __future__ import annotations

import fnmatch
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from bulwark.agent.errors import SnapshotNotFound, UnsafePathError, UsageError
from bulwark.agent.format.manifest import Entry
from bulwark.agent.format.pathsafe import check_manifest_path

#: ``stat.filemode`` type bits by entry type name; an unknown type shows as '?'.
_TYPE_BITS = {
    "DIR": stat.S_IFDIR, "FILE": stat.S_IFREG, "SYMLINK": stat.S_IFLNK,
    "FIFO": stat.S_IFIFO, "SOCKET": stat.S_IFSOCK, "CHAR_DEVICE": stat.S_IFCHR,
    "BLOCK_DEVICE": stat.S_IFBLK,
}


def shown(path: str) -> str:
    """``/`` + the manifest path, undecodable bytes as ``\\xNN`` (printable on any terminal)."""
    raw = path.encode("utf-8", "surrogateescape")
    return "/" + raw.decode("utf-8", "backslashreplace")


def manifest_path(path: str, flag: str = "PATH") -> str:
    """The manifest form of a path as ``ls`` shows it or as given relative to the snapshot's
    root: no leading or trailing '/'; '' is the root. UsageError (exit 2) names a path that
    could never be in a manifest (``..``, empty components)."""
    wanted = path.strip("/")
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

    def summary(self, long: bool = False) -> dict[str, object]:
        e = self.entry
        out: dict[str, object] = {
            "path": shown(e.path), "type": e.type.name.lower(), "mode": f"{e.mode:04o}",
            "size": e.size, "mtime_ns": e.mtime_ns,
        }
        if e.link_target:
            out["link_target"] = e.link_target.encode("utf-8", "surrogateescape").decode(
                "utf-8", "backslashreplace")
        if long:
            out["chunks"] = len(e.chunks)
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
        raise SnapshotNotFound(f"path {shown(path)!r} is not in this snapshot")


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
