"""Built-in validators: prove restored files are usable, not just byte-identical.

A content hash proves the bytes are the ones backed up; it does not prove the backup
was of a usable file (a checkpoint written half-way when the backup ran hashes fine).
Validators check the structure a loader relies on:

* ``safetensors``: the 8-byte little-endian header length is within bounds, the header
  is a JSON object, every tensor's dtype size x prod(shape) equals its byte range, the
  ranges sorted by offset start at 0, are contiguous (no gap, no overlap) and end exactly
  at the end of the file (8 + header length + data == file size).
* ``tar``: every member can be read to its end and yields exactly its stated size.

Each returns a :class:`Check`; validators never raise for bad input.
"""

from __future__ import annotations

import json
import math
import os
import struct
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

#: safetensors refuses headers above 100 MB; so do we.
SAFETENSORS_MAX_HEADER = 100 * 1000 * 1000

#: Bytes per element of each safetensors dtype (sub-byte float formats are not listed
#: and fail as unknown: their sizes cannot be checked per element).
DTYPE_SIZES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}

_READ = 1 << 20


@dataclass(frozen=True)
class Check:
    """The result of one validator on one file (``path`` relative to the restore root)."""

    validator: str
    path: str
    ok: bool
    detail: str

    def to_json(self) -> dict[str, object]:
        return {"validator": self.validator, "path": self.path, "ok": self.ok,
                "detail": self.detail}


class _Invalid(Exception):
    pass


def _safetensors_layout(path: Path) -> str:
    size = path.stat().st_size
    if size < 8:
        raise _Invalid(f"file is {size} bytes, shorter than the 8-byte header length")
    with open(path, "rb") as f:
        (header_len,) = struct.unpack("<Q", f.read(8))
        if header_len > SAFETENSORS_MAX_HEADER:
            raise _Invalid(f"header length {header_len} exceeds {SAFETENSORS_MAX_HEADER}")
        if 8 + header_len > size:
            raise _Invalid(f"header length {header_len} runs past the end of the "
                           f"{size}-byte file (truncated?)")
        raw = f.read(header_len)
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Invalid(f"header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise _Invalid("header is not a JSON object")
    data_size = size - 8 - header_len
    ranges: list[tuple[int, int, str]] = []
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                raise _Invalid("__metadata__ is not an object")
            continue
        ranges.append((*_tensor_range(name, info), name))
    ranges.sort()
    at = 0
    for begin, end, name in ranges:
        if begin != at:
            kind = "gap" if begin > at else "overlap"
            raise _Invalid(f"tensor {name!r}: {kind} before offset {begin} (expected {at})")
        at = end
    if at != data_size:
        raise _Invalid(f"tensors cover {at} bytes but the data section is {data_size} bytes"
                       + (" (truncated?)" if at > data_size else ""))
    return f"{len(ranges)} tensors, {data_size} data bytes"


def _tensor_range(name: str, info: object) -> tuple[int, int]:
    if not isinstance(info, dict):
        raise _Invalid(f"tensor {name!r}: entry is not an object")
    dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
    if dtype not in DTYPE_SIZES:
        raise _Invalid(f"tensor {name!r}: unknown dtype {dtype!r}")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise _Invalid(f"tensor {name!r}: shape {shape!r} is not a list of sizes")
    if (not isinstance(offsets, list) or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)):
        raise _Invalid(f"tensor {name!r}: data_offsets {offsets!r} is not [begin, end]")
    begin, end = offsets
    if not 0 <= begin <= end:
        raise _Invalid(f"tensor {name!r}: data_offsets [{begin}, {end}] are not ordered")
    expected = DTYPE_SIZES[dtype] * math.prod(shape)
    if end - begin != expected:
        raise _Invalid(f"tensor {name!r}: {dtype} {shape} needs {expected} bytes, "
                       f"offsets give {end - begin}")
    return begin, end


def validate_safetensors(path: Path, rel: str) -> Check:
    try:
        return Check("safetensors", rel, True, _safetensors_layout(path))
    except _Invalid as exc:
        return Check("safetensors", rel, False, str(exc))
    except OSError as exc:
        return Check("safetensors", rel, False, f"cannot read: {exc.strerror or exc}")


def validate_tar(path: Path, rel: str) -> Check:
    members = 0
    try:
        with tarfile.open(path, "r:*") as tar:
            for member in tar:
                members += 1
                if not member.isfile():
                    continue
                stream = tar.extractfile(member)
                if stream is None:
                    raise _Invalid(f"member {member.name!r}: cannot be opened")
                got = 0
                while block := stream.read(_READ):
                    got += len(block)
                if got != member.size:
                    raise _Invalid(f"member {member.name!r}: read {got} of {member.size} bytes")
    except _Invalid as exc:
        return Check("tar", rel, False, str(exc))
    except (tarfile.TarError, EOFError, OSError) as exc:
        return Check("tar", rel, False, f"after {members} members: {exc}")
    return Check("tar", rel, True, f"{members} members")


#: File name suffix -> validator.
VALIDATORS = {
    ".safetensors": validate_safetensors,
    ".tar": validate_tar,
    ".tar.gz": validate_tar,
    ".tgz": validate_tar,
}


def _validator_for(name: str):
    for suffix, validator in VALIDATORS.items():
        if name.endswith(suffix):
            return validator
    return None


def validate_tree(root: Path) -> Iterator[Check]:
    """Run the matching validator on every regular file under ``root``, sorted by path."""
    found: list[tuple[str, Path]] = []
    for directory, dirs, files in os.walk(root):
        dirs.sort()
        for name in files:
            full = Path(directory) / name
            if _validator_for(name) is not None and full.is_file() and not full.is_symlink():
                found.append(("/" + str(full.relative_to(root)), full))
    for rel, full in sorted(found):
        yield _validator_for(full.name)(full, rel)
