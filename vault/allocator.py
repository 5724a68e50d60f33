"""Keep glibc from handing megabyte buffers back to the kernel after every message.

Every PutChunks message (about 2 MiB) and every blob in it passes through fresh megabyte
buffers (the gRPC message, the protobuf bytes, the blob written to the store). With glibc's
defaults each can be its own ``mmap`` or a heap grown and trimmed again, so the kernel
zero-fills and faults in every page each time (issue #6; the agent measured 1.0 against
5.8-7.8 GB/s on its buffers). Freed buffers are reused by the next message instead, and a heap
returns its top once more than ``TRIM_THRESHOLD`` is free.

:func:`tune` is called once by ``vaultd``'s entry point, before any work. It is a no-op
where the C library has no ``mallopt`` (not glibc). ``agent/allocator.py`` is its twin on the
other side: agent and vault share nothing but ``protos`` (keep the two in step).
"""

from __future__ import annotations

import ctypes

#: Allocations up to this size come from the heap, not from their own mmap.
MMAP_THRESHOLD = 8 << 20
#: A heap keeps up to this much free memory at its top instead of trimming it.
TRIM_THRESHOLD = 16 << 20

#: Heaps ("arenas") the threads share; glibc's default is 8 per core, and each keeps its own
#: free memory. With 8 nodes uploading at once (bench scenario nodes, issue #6), vaultd
#: peaked at 335 MiB with the default and at 205-219 MiB with 2, and the aggregate rose
#: from 78 to 104-106 MB/s.
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
