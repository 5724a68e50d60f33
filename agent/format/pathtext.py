"""Paths as text: the one unambiguous escape for file names that are not UTF-8.

Linux names are bytes; the agent keeps them as ``str`` with surrogate escapes
(``os.fsdecode``), which round-trips to the same bytes but cannot be printed or put in JSON
as such. Wherever a path is shown to a person or a script (``--json`` output, warnings,
``ls``) and wherever one is typed (``restore --path``), it uses this text form:

- the name's bytes decoded as UTF-8;
- each byte that is not part of valid UTF-8 written as ``\\xNN`` (two lowercase hex digits);
- a backslash written as ``\\\\`` (so ``\\x`` in a real name cannot be confused with an escape).

``b"w/bad\\xffname"`` is shown as ``w/bad\\xffname``; ``b"a\\\\b"`` as ``a\\\\b``. Reading
accepts exactly these two escapes (and ``\\xNN`` for any byte); any other backslash is an
error, so every text names one path (README "Paths that are not UTF-8").
"""

from __future__ import annotations

import re

from bulwark.agent.errors import ConfigError

_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})?")


def show_path(path: str) -> str:
    """The text form of ``path`` (a ``str`` with surrogate escapes, as the agent keeps it)."""
    if _plain(path):
        return path
    out = []
    for ch in path:
        code = ord(ch)
        if ch == "\\":
            out.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not valid UTF-8
            out.append(f"\\x{code - 0xDC00:02x}")
        else:
            out.append(ch)
    return "".join(out)


def _plain(path: str) -> bool:
    return "\\" not in path and not any(0xDC80 <= ord(ch) <= 0xDCFF for ch in path)


def parse_path(text: str, what: str = "path") -> str:
    """The path (``str`` with surrogate escapes) that ``text`` shows; the inverse of
    :func:`show_path`. Raises ConfigError (exit 2) for a backslash that starts neither
    ``\\\\`` nor ``\\xNN``, naming ``what`` and the position."""
    if "\\" not in text:
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos : m.start()].encode("utf-8", "surrogateescape")
        escape = m.group(1)
        if escape is None:
            raise ConfigError(
                f"{what} {text!r}: the backslash at position {m.start()} starts neither "
                "'\\\\' (a backslash) nor '\\xNN' (a byte in hex)")
        out += b"\\" if escape == "\\" else bytes([int(escape[1:], 16)])
        pos = m.end()
    out += text[pos:].encode("utf-8", "surrogateescape")
    return out.decode("utf-8", "surrogateescape")
