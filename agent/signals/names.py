"""Names that look like ransomware's work (issue 18): ransom notes, and extensions appended
to or replacing the names of files that disappeared in the same snapshot.

Paths are the manifest's relative paths as bytes (names need not be UTF-8).
"""

from __future__ import annotations

import re

#: A ransom note: a new small file whose name says what happened and how to pay.
_NOTE = re.compile(
    rb"(decrypt|ransom|unlock|recover|your[_ .-]?files|restore[_ .-]?(my[_ .-]?|your[_ .-]?)?"
    rb"files|files[_ .-]?(are[_ .-]?)?encrypted)[^/]*\.(txt|html?|hta|rtf|url)$",
    re.IGNORECASE,
)
NOTE_MAX_SIZE = 64 << 10


def is_ransom_note(path: bytes, size: int) -> bool:
    """Whether a file named ``path`` of ``size`` bytes looks like a ransom note."""
    return size <= NOTE_MAX_SIZE and _NOTE.search(path.rsplit(b"/", 1)[-1]) is not None


def parent(path: bytes) -> bytes:
    return path.rsplit(b"/", 1)[0] if b"/" in path else b""


def stem(path: bytes) -> bytes:
    """The path without its last extension (``a/b.tar.locked`` -> ``a/b.tar``); a name
    without a dot (or only a leading one) is its own stem."""
    head, _, name = path.rpartition(b"/")
    cut = name.rfind(b".")
    if cut <= 0:
        return path
    return (head + b"/" if head else b"") + name[:cut]
