"""Format checks of a file from its first and last bytes (the ransomware signals, issue 18).

Encryption, intermittent encryption and wipers all destroy the structure a file starts with.
:func:`detect` names the format a file's head (``HEAD`` bytes) and tail (``TAIL`` bytes)
show, and whether its checks pass: a recognised magic number, and where the format has more
to check cheaply, that too (a tar header's checksum, a safetensors header that parses and
whose tensors lie inside the file, a small JSON file that parses, text that decodes as
UTF-8). ``("", False)`` means nothing recognised. No I/O here: the caller reads the bytes.
"""

from __future__ import annotations

import codecs
import json
import struct

HEAD = 4096
TAIL = 16
#: Whole JSON files up to this size are parsed (small files are in memory anyway).
JSON_PARSE_MAX = 64 << 10
_SAFETENSORS_HEADER_MAX = 100 << 20

_MAGICS: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "zip"),            # torch .pt/.pth, .npz, .zip
    (b"\x93NUMPY", "npy"),
    (b"GGUF", "gguf"),
    (b"ARROW1", "arrow"),
    (b"\x89HDF\r\n\x1a\n", "hdf5"),
    (b"\x1f\x8b", "gzip"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"%PDF-", "pdf"),
    (b"\x7fELF", "elf"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
)


def detect(head: bytes, tail: bytes, size: int, whole: bytes | None = None) -> tuple[str, bool]:
    """(format, checks passed) of a ``size``-byte file whose first bytes are ``head`` and
    last are ``tail``; ``whole`` is the whole content when the caller has it (small files)."""
    if size == 0:
        return "empty", True
    if head[:4] == b"PAR1":
        return "parquet", tail[-4:] == b"PAR1"
    safetensors = _safetensors(head, size)
    if safetensors is not None:
        return "safetensors", safetensors
    for magic, name in _MAGICS:
        if head.startswith(magic):
            return name, True
    if len(head) >= 512 and head[257:262] == b"ustar":
        return "tar", _tar_checksum_ok(head[:512])
    text = _text(head, size)
    if text is not None:
        if text.lstrip()[:1] in ("{", "["):
            if whole is not None and len(whole) <= JSON_PARSE_MAX:
                return "json", _parses(whole)
            return "json", True
        return "text", True
    return "", False


def _safetensors(head: bytes, size: int) -> bool | None:
    """None if the head is not a safetensors file's; else whether its header is sound (the
    part of it in ``head``: the declared length fits, the JSON starts as it must)."""
    if len(head) < 10 or head[8:9] != b"{":
        return None
    (length,) = struct.unpack_from("<Q", head)
    if length > _SAFETENSORS_HEADER_MAX or 8 + length > size:
        return False
    if 8 + length <= len(head):
        try:
            header = json.loads(head[8 : 8 + length])
        except (ValueError, RecursionError):
            return False
        return isinstance(header, dict) and _offsets_fit(header, size - 8 - length)
    return head[9:10] in b' \t\r\n"}'


def safetensors_header_ok(header: object, data_size: int) -> bool:
    """A parsed safetensors header whose every tensor lies inside ``data_size`` bytes."""
    return isinstance(header, dict) and _offsets_fit(header, data_size)


def _offsets_fit(header: dict, data_size: int) -> bool:
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2
                and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1] <= data_size):
            return False
    return True


def _tar_checksum_ok(block: bytes) -> bool:
    try:
        stored = int(block[148:156].split(b"\x00")[0].strip() or b"-1", 8)
    except ValueError:
        return False
    return stored == sum(block[:148]) + 8 * 32 + sum(block[156:512])


def _text(head: bytes, size: int) -> str | None:
    """The head as UTF-8 text (a character cut at the end of a partial head allowed)."""
    if b"\x00" in head:
        return None
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(head, final=size <= len(head))
    except UnicodeDecodeError:
        return None


def _parses(whole: bytes) -> bool:
    try:
        json.loads(whole)
    except (ValueError, RecursionError):
        return False
    return True
