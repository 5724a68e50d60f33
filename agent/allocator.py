"""Keep glibc from handing megabyte buffers back to the kernel after every chunk.

Every chunk passes through a handful of 0.25-4 MiB buffers (plaintext, byte planes,
compressed payload, ciphertext, gRPC message). With glibc's defaults each of them can be a
fresh ``mmap`` (or a heap grown and trimmed again), so the kernel zero-fills and faults in
every page each time: merging the byte planes of a 1 MiB bf16 chunk ran at 1.0 GB/s that
way and at 5.8-7.8 GB/s with thresholds like the ones below (issue #6). Memory stays bounded: freed
buffers are reused by the next chunk, and a heap returns its top once more than
``TRIM_THRESHOLD`` is free.

:func:`tune` is called once by the command-line entry points, before any work. It is a
no-op where the C library has no ``mallopt`` (not glibc). ``vault/allocator.py`` is its twin on the
other side: agent and vault share nothing but ``protos`` (keep the two in step).
"""

from __future__ import annotations

import ctypes

#: Allocations up to this size come from the heap, not from their own mmap.
MMAP_THRESHOLD = 8 << 20
#: A heap keeps up to this much free memory at its top instead of trimming it.
TRIM_THRESHOLD = 16 << 20

#: Heaps ("arenas") the threads share; glibc's default is 8 per core, and each keeps its own
#: free memory. 4 GiB bench scenario (issue #6), default against 2: restore peak 269-273 vs
#: 207 MiB, backup 197-203 vs 178 MiB, and both ran faster (186-199 vs 221 MB/s backup).
ARENA_MAX = 2

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_M_ARENA_MAX = -8


def tune() -> bool:
    """Set the thresholds; True if the C library took them."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
                and mallopt(_M_ARENA_MAX, ARENA_MAX))
