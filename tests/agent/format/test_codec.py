from __future__ import annotations

import os
import random
import struct
import time
import tracemalloc

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import BlobError
from bulwark.agent.format.codec import TensorHint, decode_payload, encode_payload
from bulwark.agent.format.constants import CODEC_BYTEGROUP, CODEC_RAW, CODEC_ZSTD
from tests.lib.paths import kat_v1

KAT = kat_v1()


def bf16_like(n_elems: int, seed: int = 1) -> bytes:
    """Little-endian bf16: low byte random mantissa, high byte sign + narrow exponent range."""
    r = random.Random(seed)
    out = bytearray(2 * n_elems)
    out[0::2] = r.randbytes(n_elems)
    out[1::2] = bytes(r.choice((0x3C, 0x3D, 0x3E, 0xBC, 0xBD, 0xBE)) for _ in range(n_elems))
    return bytes(out)


def pattern(n: int) -> bytes:
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 7, 64, 1001, 70001])
@pytest.mark.parametrize("width", [2, 4])
def test_bytegroup_round_trip_all_phases(n: int, width: int):
    data = bf16_like(n // 2 + 1)[:n]
    for phase in range(width):
        payload = encode_payload(data, TensorHint(width, phase))
        assert decode_payload(payload, n) == data


def test_bytegroup_forced_layout():
    """Plane j holds bytes at positions p with (p + phase) % width == j."""
    data = bytes(range(10))
    payload = encode_payload(data * 300, TensorHint(4, 1))
    assert payload[:3] == bytes((CODEC_BYTEGROUP, 4, 1))
    assert decode_payload(payload, 3000) == data * 300


def test_bytegroup_known_answer():
    payload = bytes.fromhex(KAT["payload_bytegroup_w4_p3_pattern_999"])
    assert decode_payload(payload, 999) == pattern(999)


def test_bytegroup_beats_zstd_on_bf16():
    data = bf16_like(512 * 1024)
    plain = encode_payload(data)
    grouped = encode_payload(data, TensorHint(2, 0))
    assert grouped[0] == CODEC_BYTEGROUP
    assert len(grouped) < 0.9 * len(plain), (len(grouped), len(plain))
    odd = data[1:]  # a cut at an odd offset: the hint's phase keeps the planes aligned
    assert len(encode_payload(odd, TensorHint(2, 1))) < 0.9 * len(encode_payload(odd))
    assert decode_payload(grouped, len(data)) == data


def test_incompressible_stored_raw():
    data = os.urandom(4 << 20)
    payload = encode_payload(data)
    assert payload[0] == CODEC_RAW and payload[1:] == data
    assert encode_payload(os.urandom(1000))[0] == CODEC_RAW  # small: tried, not kept (larger)
    assert encode_payload(os.urandom(1000), TensorHint(2, 0))[0] == CODEC_RAW


def test_mostly_incompressible_chunk_with_text_between_is_compressed():
    """A tar shard: noise (JPEGs) with captions between them. A probe of one sample from the
    middle saw only noise and stored it RAW; the spread probe sees the text."""
    r = random.Random(3)
    caption = b'{"caption": "a photo of a cat on a mat", "width": 512, "height": 512}\n' * 40
    data = b"".join(r.randbytes(60 << 10) + caption for _ in range(16))
    payload = encode_payload(data)
    assert payload[0] == CODEC_ZSTD
    assert len(payload) < 0.97 * len(data)
    assert decode_payload(payload, len(data)) == data


def test_compressible_uses_zstd_with_content_size():
    data = b"checkpoint " * 100_000
    payload = encode_payload(data)
    assert payload[0] == CODEC_ZSTD
    assert zstandard.frame_content_size(payload[1:]) == len(data)
    assert decode_payload(payload, len(data)) == data
    assert decode_payload(encode_payload(memoryview(data)), len(data)) == data


def test_hint_validation():
    for w, p in ((3, 0), (2, 2), (4, -1)):
        with pytest.raises(ValueError):
            TensorHint(w, p)


def test_decompression_bomb_refused_without_allocating():
    bomb = bytes((CODEC_ZSTD,)) + zstandard.ZstdCompressor(level=1).compress(bytes(100 << 20))
    tracemalloc.start()
    t = time.perf_counter()
    with pytest.raises(BlobError, match="refusing"):
        decode_payload(bomb, 1 << 20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert time.perf_counter() - t < 1.0
    assert peak < 4 << 20


def test_bomb_without_content_size_refused():
    cobj = zstandard.ZstdCompressor(level=1, write_content_size=False).compressobj()
    frame = cobj.compress(bytes(100 << 20)) + cobj.flush()
    with pytest.raises(BlobError, match="content size"):
        decode_payload(bytes((CODEC_ZSTD,)) + frame, 1 << 20)


def test_bytegroup_plane_bomb_refused():
    frame = zstandard.ZstdCompressor(level=1).compress(bytes(50 << 20))
    body = bytes((CODEC_BYTEGROUP, 2, 0)) + struct.pack("<BI", CODEC_ZSTD, len(frame)) + frame
    with pytest.raises(BlobError, match="plane 0"):
        decode_payload(body + struct.pack("<BI", CODEC_RAW, 5) + bytes(5), 10)


@pytest.mark.parametrize("payload, size, reason", [
    (b"", 0, "empty"),
    (b"\x00", -1, "outside"),
    (b"\x00", (4 << 20) + 1, "outside"),
    (b"\x07abc", 3, "unknown payload codec 7"),
    (b"\x00abc", 4, "expected 4"),
    (b"\x01notzstd", 3, "not a zstd frame"),
    (b"\x02", 4, "truncated"),
    (b"\x02\x03\x00", 4, "width 3"),
    (b"\x02\x02\x02", 4, "phase 2"),
    (b"\x02\x02\x00\x00\x02\x00\x00\x00ab", 4, "plane 1: header"),
    (b"\x02\x02\x00\x00\x09\x00\x00\x00ab", 4, "9 bytes declared"),
    (b"\x02\x02\x00\x05\x02\x00\x00\x00ab", 4, "stream codec 5"),
    (b"\x02\x02\x00\x00\x01\x00\x00\x00a\x00\x01\x00\x00\x00b", 4, "expected 2"),
    (b"\x02\x02\x00\x00\x02\x00\x00\x00ab\x00\x02\x00\x00\x00cdX", 4, "trailing"),
])
def test_bad_payloads(payload: bytes, size: int, reason: str):
    with pytest.raises(BlobError, match=reason):
        decode_payload(payload, size)


def test_truncated_zstd_refused():
    data = b"abcdefgh" * 10_000
    payload = encode_payload(data)
    assert payload[0] == CODEC_ZSTD
    for cut in (1, 3, 10, len(payload) // 2):
        with pytest.raises(BlobError):
            decode_payload(payload[:-cut], len(data))
    with pytest.raises(BlobError):
        decode_payload(payload + b"\x00", len(data))


SAMPLES = [encode_payload(b"abc" * 500), encode_payload(bf16_like(300), TensorHint(2, 1)),
           encode_payload(bf16_like(300), TensorHint(4, 2)), encode_payload(b"xyz")]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(SAMPLES), st.integers(0, 10_000), st.integers(0, 255),
       st.integers(0, 2000), st.binary(max_size=64))
def test_mutated_payloads_raise_only_blob_error(base, at, value, size, junk):
    mutated = bytearray(base)
    mutated[at % len(mutated)] = value
    for candidate in (bytes(mutated), base[: at % (len(base) + 1)], base + junk, junk):
        try:
            decode_payload(candidate, size)
        except BlobError:
            pass
