"""Byte planes of tensor data: the split and merge behind CODEC_BYTEGROUP (FORMAT.md "Codecs").

Plane ``j`` of a chunk holds, in order, the bytes at positions ``p`` with
``(p + phase) % width == j``. Read as elements, that is: the head (the ``(width - phase) %
width`` bytes before the first whole element, which belong to planes ``phase..width-1``),
then byte ``j`` of every whole element, then the tail (the bytes of the last partial element,
planes ``0..``). Both directions work on whole elements as little-endian integers with numpy's
shift-and-narrow ufuncs writing into preallocated planes: 8-17 GB/s per core against 1.3-3.5
GB/s for strided slicing (issue #6).

numpy is imported by whoever imports this module, so the codec imports it only for tensors.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

# Only ufuncs are used, never BLAS: without this, numpy's OpenBLAS starts a thread per core
# at import that polls for work, 4.5 % of the agent's CPU in a checkpoint backup (issue #6).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # after the thread count above

_ELEMENT = {2: np.dtype("<u2"), 4: np.dtype("<u4")}


def _geometry(size: int, width: int, phase: int) -> tuple[int, int, int]:
    """(head, whole elements, tail) byte counts of a ``size``-byte chunk."""
    head = min((width - phase) % width, size)
    elements = (size - head) // width
    return head, elements, size - head - elements * width


def plane_sizes(size: int, width: int, phase: int) -> list[int]:
    """The length of every plane of a ``size``-byte chunk."""
    return [len(range((j - phase) % width, size, width)) for j in range(width)]


def split_planes(data: bytes | bytearray | memoryview, width: int, phase: int) -> list[np.ndarray]:
    """The ``width`` planes of ``data`` as contiguous uint8 arrays (buffers for zstd/join)."""
    if width not in _ELEMENT:
        raise ValueError(f"plane width must be one of {sorted(_ELEMENT)}, got {width}")
    raw = np.frombuffer(data, np.uint8)
    head, count, tail = _geometry(len(raw), width, phase)
    elements = raw[head : head + count * width].view(_ELEMENT[width])
    planes = []
    for j, size in enumerate(plane_sizes(len(raw), width, phase)):
        plane = np.empty(size, np.uint8)
        at = 0
        if head and j >= phase and j - phase < head:
            plane[0] = raw[j - phase]
            at = 1
        np.right_shift(elements, 8 * j, out=plane[at : at + count], casting="unsafe")
        if j < tail:
            plane[at + count] = raw[head + count * width + j]
        planes.append(plane)
    return planes


def merge_planes(planes: Sequence[bytes | memoryview], width: int, phase: int,
                 size: int) -> bytes:
    """Interleave ``planes`` (each exactly its ``plane_sizes`` length) back into the chunk."""
    if width not in _ELEMENT:
        raise ValueError(f"plane width must be one of {sorted(_ELEMENT)}, got {width}")
    sizes = plane_sizes(size, width, phase)
    arrays = [np.frombuffer(p, np.uint8) for p in planes]
    if [len(a) for a in arrays] != sizes:
        raise ValueError(f"plane lengths {[len(a) for a in arrays]} do not match {sizes}")
    out = np.empty(size, np.uint8)
    head, count, tail = _geometry(size, width, phase)
    elements = out[head : head + count * width].view(_ELEMENT[width])
    widened = np.empty(count, _ELEMENT[width])
    for j, plane in enumerate(arrays):
        at = 0
        if head and j >= phase and j - phase < head:
            out[j - phase] = plane[0]
            at = 1
        body = plane[at : at + count]
        if j == 0:
            np.copyto(elements, body, casting="unsafe")
        else:
            np.copyto(widened, body, casting="unsafe")
            widened <<= 8 * j
            elements |= widened
        if j < tail:
            out[head + count * width + j] = plane[at + count]
    return out.tobytes()
