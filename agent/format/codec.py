"""Payload codecs: what gets encrypted inside a chunk blob (FORMAT.md "Codecs").

A payload is one codec byte followed by the codec's body:

* ``CODEC_RAW``       the plaintext as is;
* ``CODEC_ZSTD``      one zstd frame with its content size written;
* ``CODEC_BYTEGROUP`` u8 width | u8 phase | ``width`` byte-planes, each
  u8 stream codec (RAW or ZSTD) | u32 LE length | bytes. Plane j holds the bytes at
  positions p with (p + phase) % width == j, so bf16/fp32 exponents land in one plane.

Decoding trusts nothing in the payload: output never exceeds ``expected_size`` (the size the
authenticated manifest gives, at most CHUNK_MAX), and no buffer is allocated from a size field
beyond it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import zstandard

from bulwark.agent.errors import BlobError
from bulwark.agent.format.constants import (
    BYTEGROUP_WIDTHS,
    CHUNK_MAX,
    CODEC_BYTEGROUP,
    CODEC_RAW,
    CODEC_ZSTD,
)
from bulwark.agent.format.facts import (
    ZERO_CHECK_RATIO,
    ChunkFacts,
    byte_entropy_mbit,
    exponent_facts,
)

#: zstd level of chunks without a tensor hint (a writer's choice, not recorded in blobs).
#: Level 2 against 1 on 20k small files in packs: ratio 0.469 vs 0.491 for 15-35 % more CPU
#: (issue #6, FORMAT.md "Codecs").
ZSTD_LEVEL = 2
#: A byte plane is probed with one PLANE_PROBE slice from its middle: float planes are either
#: noise (low mantissa bytes) or compress to about a third (exponents), seldom in between.
PLANE_PROBE = 16 * 1024
PLANE_MIN_GAIN = 0.97  # a plane is stored zstd only if it shrinks to <= 97 %
_PLANE_HEAD = struct.Struct("<BI")


@dataclass(frozen=True)
class TensorHint:
    """The chunk holds tensor elements of ``width`` bytes; its first byte sits at ``phase``
    within an element (content-defined cuts may fall mid-element)."""

    width: int
    phase: int

    def __post_init__(self) -> None:
        if self.width not in BYTEGROUP_WIDTHS:
            raise ValueError(
                f"tensor hint width must be one of {BYTEGROUP_WIDTHS}, got {self.width}"
            )
        if not 0 <= self.phase < self.width:
            raise ValueError(f"tensor hint phase must be in [0, {self.width}), got {self.phase}")


def _zstd(data: bytes | memoryview) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(data)


#: Byte planes of floats (exponents, high mantissa bits) have low entropy but few long
#: repeats: the smallest match table and 7-byte minimum matches leave the work to the
#: entropy coder. On the bf16 exponent planes of the bench checkpoint: 0.352 of their size
#: at 0.22 s per 194 MB, against 0.378 at 0.62 s with plain level 1 (issue #6). Any zstd
#: decoder reads the result.
_PLANE_PARAMS = zstandard.ZstdCompressionParameters.from_level(
    1, hash_log=6, min_match=7, search_log=1, write_content_size=True
)


def _zstd_plane(data: bytes | memoryview) -> bytes:
    return zstandard.ZstdCompressor(compression_params=_PLANE_PARAMS).compress(data)


def _plane_looks_incompressible(plane) -> bool:  # a contiguous uint8 numpy array
    if plane.size <= 4 * PLANE_PROBE:
        return False
    start = (plane.size - PLANE_PROBE) // 2
    return len(_zstd_plane(plane[start : start + PLANE_PROBE])) > PLANE_MIN_GAIN * PLANE_PROBE


def encode_payload(data: bytes | bytearray | memoryview, hint: TensorHint | None = None) -> bytes:
    """Pick a codec for ``data`` and return codec byte + body. Never larger than RAW + overhead."""
    return encode_payload_facts(data, hint)[0]


def encode_payload_facts(
    data: bytes | bytearray | memoryview, hint: TensorHint | None = None,
) -> tuple[bytes, ChunkFacts]:
    """:func:`encode_payload` and what it learnt on the way (agent.format.facts): the same
    payload bytes, plus the chunk's compressibility, entropy where it did not compress, and
    the exponent statistics of tensor chunks."""
    data = bytes(data)
    if not data:
        return bytes((CODEC_RAW,)), ChunkFacts(0, 1, CODEC_RAW)
    exp = (0, 0, 0)
    if hint is not None:
        grouped, exp = _encode_bytegroup(data, hint)
        payload = grouped if len(grouped) < 1 + len(data) else bytes((CODEC_RAW,)) + data
    else:
        # No probe: zstd stores incompressible blocks raw by itself, at 5.7 GB/s on random
        # data, while sampled probes misjudged half the chunks of tar shards whose JPEGs have
        # captions between them (every such chunk compresses to <= 0.988 whole; issue #6).
        z = _zstd(data)
        payload = bytes((CODEC_ZSTD,)) + z if len(z) < len(data) else bytes((CODEC_RAW,)) + data
    codec = payload[0]
    entropy = byte_entropy_mbit(data) if codec == CODEC_RAW else -1
    zero = len(payload) <= ZERO_CHECK_RATIO * len(data) and data.count(0) == len(data)
    return payload, ChunkFacts(len(data), len(payload), codec, entropy, zero, *exp)


#: Exponent statistics read at most this many elements of a chunk's top-byte plane.
EXPONENT_SAMPLE = 1 << 16


def _encode_bytegroup(data: bytes, hint: TensorHint) -> tuple[bytes, tuple[int, int, int]]:
    # Imported here: numpy adds ~0.1 s to every CLI start, and only tensors need it.
    from bulwark.agent.format.planes import split_planes

    parts: list[bytes | memoryview] = [bytes((CODEC_BYTEGROUP, hint.width, hint.phase))]
    planes = split_planes(data, hint.width, hint.phase)
    top = planes[-1]
    exp = exponent_facts(top[:: max(1, top.size // EXPONENT_SAMPLE)])
    for plane in planes:
        # bf16 mantissa planes are noise: the probe skips compressing them at all
        z = _zstd_plane(plane) if plane.size and not _plane_looks_incompressible(plane) else b""
        if z and len(z) <= PLANE_MIN_GAIN * plane.size:
            parts += [_PLANE_HEAD.pack(CODEC_ZSTD, len(z)), z]
        else:
            parts += [_PLANE_HEAD.pack(CODEC_RAW, plane.size), memoryview(plane)]
    return b"".join(parts), exp


def decode_payload(payload: bytes | bytearray | memoryview, expected_size: int) -> bytes:
    """Decode a payload into exactly ``expected_size`` bytes, or raise BlobError saying why."""
    if not 0 <= expected_size <= CHUNK_MAX:
        raise BlobError(f"expected size {expected_size} is outside 0..{CHUNK_MAX}")
    if not payload:
        raise BlobError("payload is empty (no codec byte)")
    codec, body = payload[0], memoryview(payload)[1:]  # a view: no copy of the body
    if codec == CODEC_RAW:
        out = bytes(body)
    elif codec == CODEC_ZSTD:
        out = _unzstd(body, expected_size, "zstd payload")
    elif codec == CODEC_BYTEGROUP:
        out = _decode_bytegroup(body, expected_size)
    else:
        raise BlobError(f"unknown payload codec {codec}")
    if len(out) != expected_size:
        raise BlobError(f"payload decodes to {len(out)} bytes, expected {expected_size}")
    return out


def _unzstd(frame: bytes | memoryview, expected_size: int, what: str) -> bytes:
    try:
        declared = zstandard.frame_content_size(frame)
    except zstandard.ZstdError:
        raise BlobError(f"{what}: not a zstd frame") from None
    if declared < 0:
        raise BlobError(f"{what}: zstd frame does not declare its content size")
    if declared != expected_size:
        raise BlobError(
            f"{what}: zstd frame declares {declared} bytes, expected {expected_size} "
            "(refusing to decompress)"
        )
    if expected_size == 0:
        # zstandard cannot tell an empty frame from a missing one; compare with the canonical form
        if frame != _zstd(b""):
            raise BlobError(f"{what}: malformed empty zstd frame")
        return b""
    try:
        out = zstandard.ZstdDecompressor().decompress(
            frame, max_output_size=expected_size, allow_extra_data=False
        )
    except zstandard.ZstdError as exc:
        raise BlobError(f"{what}: corrupt or truncated zstd frame ({exc})") from None
    if len(out) != expected_size:
        raise BlobError(f"{what}: decompressed to {len(out)} bytes, expected {expected_size}")
    return out


def _decode_bytegroup(body: memoryview, expected_size: int) -> bytes:
    if len(body) < 2:
        raise BlobError("byte-group payload is truncated (no width/phase)")
    w, phase = body[0], body[1]
    if w not in BYTEGROUP_WIDTHS:
        raise BlobError(f"byte-group payload has unsupported width {w}")
    if phase >= w:
        raise BlobError(f"byte-group payload has phase {phase} >= width {w}")
    from bulwark.agent.format.planes import (  # numpy: see _encode_bytegroup
        merge_planes,
        plane_sizes,
    )

    planes: list[bytes | memoryview] = []
    pos = 2
    for j, plane_size in enumerate(plane_sizes(expected_size, w, phase)):
        if len(body) - pos < _PLANE_HEAD.size:
            raise BlobError(f"byte-group plane {j}: header is truncated")
        codec, length = _PLANE_HEAD.unpack_from(body, pos)
        pos += _PLANE_HEAD.size
        if length > len(body) - pos:
            raise BlobError(
                f"byte-group plane {j}: {length} bytes declared, {len(body) - pos} present"
            )
        stored = body[pos : pos + length]
        pos += length
        if codec == CODEC_RAW:
            plane = stored
        elif codec == CODEC_ZSTD:
            plane = _unzstd(stored, plane_size, f"byte-group plane {j}")
        else:
            raise BlobError(f"byte-group plane {j}: unknown stream codec {codec}")
        if len(plane) != plane_size:
            raise BlobError(f"byte-group plane {j}: {len(plane)} bytes, expected {plane_size}")
        planes.append(plane)
    if pos != len(body):
        raise BlobError(f"byte-group payload has {len(body) - pos} trailing bytes")
    return merge_planes(planes, w, phase, expected_size)
