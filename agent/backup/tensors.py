"""Where a file's float tensors lie, so the codec can byte-group them (FORMAT.md "Codecs").

Only safetensors files are recognised: an 8-byte little-endian header length, a JSON
header naming each tensor's ``dtype`` and ``data_offsets`` (relative to the end of the
header), then the tensor bytes. 16-bit floats (BF16, F16) group with width 2, F32 with
width 4; other dtypes get no hint.

A hint only steers compression: the byte-group codec is lossless for any bytes and its
payload says how to undo it, so a wrong or stale layout (the file rewritten between the
header read and the chunk read) costs ratio, never correctness. Hence every parse problem
simply yields no layout, and the header read is bounded (``HEADER_MAX``).
"""

from __future__ import annotations

import bisect
import json
import os
import struct
from dataclasses import dataclass

from bulwark.agent.format.codec import TensorHint

HEADER_MAX = 16 << 20  # largest safetensors JSON header read
MIN_FILE_SIZE = 64 << 10  # smaller files are not worth an extra open
MIN_COVER = 0.9  # a chunk gets a hint if one run holds at least this share of its bytes
_WIDTHS = {"BF16": 2, "F16": 2, "F32": 4}


@dataclass(frozen=True)
class TensorRun:
    """Bytes ``start``..``end`` (file offsets) hold elements of ``width`` bytes from ``start``."""

    start: int
    end: int
    width: int


class TensorLayout:
    """The tensor runs of one file, merged where adjacent tensors continue the same grid."""

    def __init__(self, runs: list[TensorRun]) -> None:
        merged: list[TensorRun] = []
        for run in sorted(runs, key=lambda r: r.start):
            last = merged[-1] if merged else None
            if (last is not None and last.width == run.width and last.end == run.start
                    and (run.start - last.start) % run.width == 0):
                merged[-1] = TensorRun(last.start, run.end, run.width)
            else:
                merged.append(run)
        self.runs = merged
        self._starts = [r.start for r in merged]

    def hint(self, offset: int, length: int) -> TensorHint | None:
        """The hint for the chunk at ``offset`` of ``length`` bytes, or None (plain zstd)."""
        if length <= 0:
            return None
        i = bisect.bisect_right(self._starts, offset) - 1  # the run the chunk starts in
        if i < 0:
            return None  # starts in the header
        run = self.runs[i]
        if min(run.end, offset + length) - offset < MIN_COVER * length:
            return None
        return TensorHint(run.width, (offset - run.start) % run.width)


def read_layout(source: str | os.PathLike | int, size: int) -> TensorLayout | None:
    """The layout of the safetensors file at ``source`` (``size`` bytes), or None.

    ``source`` is a path, or an open descriptor read with ``pread`` (its offset is left
    where it was, so the caller can go on to read the content from it)."""
    if size < MIN_FILE_SIZE:
        return None
    try:
        if isinstance(source, int):
            return _layout_from(source, size)
        fd = os.open(source, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return _layout_from(fd, size)
        finally:
            os.close(fd)
    except (OSError, ValueError, RecursionError):
        return None


def _layout_from(fd: int, size: int) -> TensorLayout | None:
    head = os.pread(fd, 9, 0)
    if len(head) < 9 or head[8:9] != b"{":
        return None
    (length,) = struct.unpack_from("<Q", head)
    if length > min(HEADER_MAX, size - 8):
        return None
    rest = os.pread(fd, length - 1, 9)
    if len(rest) < length - 1:
        return None
    header = json.loads(head[8:] + rest)
    return layout_from_header(header, data_start=8 + length, size=size)


def layout_from_header(header: object, data_start: int, size: int) -> TensorLayout | None:
    """Runs of a parsed safetensors header; None if it is not one."""
    if not isinstance(header, dict):
        return None
    runs = []
    for name, info in header.items():
        if name == "__metadata__" or not isinstance(info, dict):
            continue
        width = _WIDTHS.get(info.get("dtype"))  # type: ignore[arg-type]
        offsets = info.get("data_offsets")
        if width is None or not isinstance(offsets, list) or len(offsets) != 2:
            continue
        begin, end = offsets
        if not (isinstance(begin, int) and isinstance(end, int) and 0 <= begin < end):
            continue
        start, stop = data_start + begin, data_start + end
        if stop <= size:
            runs.append(TensorRun(start, stop, width))
    return TensorLayout(runs) if runs else None
