"""What sealing a chunk learns about its plaintext, for the ransomware signals (issue 18).

The codec already compresses every chunk and splits tensor chunks into byte planes; the
facts here are taken from that work instead of reading the data again:

* ``payload_size`` against ``size``: how well the chunk compressed (the codec's own answer);
* ``entropy_mbit``: for a chunk that did not compress (stored raw), the byte entropy of one
  ``ENTROPY_SAMPLE`` slice from its middle, in millibits per byte (8000 is uniform noise;
  -1 when not measured, i.e. the chunk compressed);
* ``zero``: the chunk is all zero bytes (a wiper's work; checked only when it compressed
  to almost nothing);
* for byte-grouped tensor chunks, the histogram of the plane holding each element's top
  byte (sign and the exponent's high bits in bf16, f16 and f32), sign masked: its entropy
  and mean. Trained weights concentrate their exponents (2-4 bits); random bits do not (7).

Facts never enter a blob: the blob bytes are the same with or without them.
"""

from __future__ import annotations

from dataclasses import dataclass

ENTROPY_SAMPLE = 64 * 1024
#: A chunk that compressed to at most this share of its size is checked for all-zero.
ZERO_CHECK_RATIO = 0.01


@dataclass(frozen=True, slots=True)
class ChunkFacts:
    """See the module doc. ``exp_count`` 0: not a tensor chunk."""

    size: int
    payload_size: int
    codec: int
    entropy_mbit: int = -1
    zero: bool = False
    exp_count: int = 0
    exp_entropy_mbit: int = 0
    exp_mean_milli: int = 0


def byte_entropy_mbit(data: bytes | memoryview) -> int:
    """Shannon entropy of the bytes of ``data`` (one middle slice of ENTROPY_SAMPLE bytes at
    most), in millibits per byte."""
    import numpy as np  # only chunks that did not compress get here

    if len(data) > ENTROPY_SAMPLE:
        start = (len(data) - ENTROPY_SAMPLE) // 2
        data = memoryview(data)[start : start + ENTROPY_SAMPLE]
    counts = np.bincount(np.frombuffer(data, np.uint8), minlength=256)
    return _entropy_mbit(counts)


def _entropy_mbit(counts) -> int:  # a numpy array of counts
    total = int(counts.sum())
    if total == 0:
        return 0
    import numpy as np

    p = counts[counts > 0] / total
    return round(-float((p * np.log2(p)).sum()) * 1000)


def exponent_facts(top_plane) -> tuple[int, int, int]:
    """(count, entropy in millibits, mean x1000) of the top-byte plane (a uint8 array),
    sign bit masked."""
    import numpy as np

    if top_plane.size == 0:
        return 0, 0, 0
    counts = np.bincount(top_plane & 0x7F, minlength=128)
    mean = float((counts * np.arange(128)).sum()) / top_plane.size
    return int(top_plane.size), _entropy_mbit(counts), round(mean * 1000)

