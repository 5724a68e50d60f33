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

from agent.errors import BlobError
from agent.format import (
    BYTEGROUP_WIDTHS,
    CHUNK_MAX,
    CODEC_BYTEGROUP,
    CODEC_RAW,
    CODEC_ZSTD,
    ZSTD_LEVEL,
)

SAMPLE_SIZE = 64 * 1024  # probed from the middle of the chunk before compressing it all
INCOMPRESSIBLE_RATIO = 0.97  # sample ratio above this: store RAW
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


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=ZSTD_LEVEL, write_content_size=True).compress(data)


#: Byte planes of floats (exponents, high mantissa bits) have low entropy but few long
#: repeats: a tiny match table and 7-byte minimum matches leave the work to the entropy
#: coder. On a bf16 exponent plane: 0.354 of its size in 1.0 ms/512 KiB, against 0.379 in
#: 2.1 ms at plain level 1 (issue #6). Any zstd decoder reads the result.
_PLANE_PARAMS = zstandard.ZstdCompressionParameters.from_level(
    ZSTD_LEVEL, hash_log=8, min_match=7, search_log=1, write_content_size=True
)


def _zstd_plane(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(compression_params=_PLANE_PARAMS).compress(data)


def _looks_incompressible(data: bytes) -> bool:
    if len(data) <= SAMPLE_SIZE:
        return False  # small: compressing it all costs no more than a probe
    start = (len(data) - SAMPLE_SIZE) // 2
    sample = data[start : start + SAMPLE_SIZE]
    return len(_zstd(sample)) > INCOMPRESSIBLE_RATIO * SAMPLE_SIZE


def encode_payload(data: bytes | bytearray | memoryview, hint: TensorHint | None = None) -> bytes:
    """Pick a codec for ``data`` and return codec byte + body. Never larger than RAW + overhead."""
    data = bytes(data)
    if not data:
        return bytes((CODEC_RAW,))
    if hint is not None:
        grouped = _encode_bytegroup(data, hint)
        return grouped if len(grouped) < 1 + len(data) else bytes((CODEC_RAW,)) + data
    if _looks_incompressible(data):
        return bytes((CODEC_RAW,)) + data
    z = _zstd(data)
    return bytes((CODEC_ZSTD,)) + z if len(z) < len(data) else bytes((CODEC_RAW,)) + data


def _encode_bytegroup(data: bytes, hint: TensorHint) -> bytes:
    w, phase = hint.width, hint.phase
    parts = [bytes((CODEC_BYTEGROUP, w, phase))]
    # numpy's strided copy splits planes at 2-3 GB/s; bytes[j::w] managed 0.35-0.6 (issue #6).
    # Imported here: it adds ~0.1 s to every CLI start, and only tensors need it.
    import numpy as np

    elements = np.frombuffer(data, np.uint8)
    for j in range(w):
        plane = elements[(j - phase) % w :: w].tobytes()
        # bf16 mantissa planes are noise: the sample probe skips compressing them at all
        z = _zstd_plane(plane) if plane and not _looks_incompressible(plane) else b""
        if z and len(z) <= PLANE_MIN_GAIN * len(plane):
            parts += [_PLANE_HEAD.pack(CODEC_ZSTD, len(z)), z]
        else:
            parts += [_PLANE_HEAD.pack(CODEC_RAW, len(plane)), plane]
    return b"".join(parts)


def decode_payload(payload: bytes | bytearray | memoryview, expected_size: int) -> bytes:
    """Decode a payload into exactly ``expected_size`` bytes, or raise BlobError saying why."""
    if not 0 <= expected_size <= CHUNK_MAX:
        raise BlobError(f"expected size {expected_size} is outside 0..{CHUNK_MAX}")
    payload = bytes(payload)
    if not payload:
        raise BlobError("payload is empty (no codec byte)")
    codec, body = payload[0], payload[1:]
    if codec == CODEC_RAW:
        out = body
    elif codec == CODEC_ZSTD:
        out = _unzstd(body, expected_size, "zstd payload")
    elif codec == CODEC_BYTEGROUP:
        out = _decode_bytegroup(body, expected_size)
    else:
        raise BlobError(f"unknown payload codec {codec}")
    if len(out) != expected_size:
        raise BlobError(f"payload decodes to {len(out)} bytes, expected {expected_size}")
    return out


def _unzstd(frame: bytes, expected_size: int, what: str) -> bytes:
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


def _decode_bytegroup(body: bytes, expected_size: int) -> bytes:
    if len(body) < 2:
        raise BlobError("byte-group payload is truncated (no width/phase)")
    w, phase = body[0], body[1]
    if w not in BYTEGROUP_WIDTHS:
        raise BlobError(f"byte-group payload has unsupported width {w}")
    if phase >= w:
        raise BlobError(f"byte-group payload has phase {phase} >= width {w}")
    import numpy as np  # see _encode_bytegroup

    out = np.empty(expected_size, np.uint8)
    pos = 2
    for j in range(w):
        start = (j - phase) % w
        plane_size = len(range(start, expected_size, w))
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
        out[start::w] = np.frombuffer(plane, np.uint8)
    if pos != len(body):
        raise BlobError(f"byte-group payload has {len(body) - pos} trailing bytes")
    return out.tobytes()
