from __future__ import annotations

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import BlobError
from bulwark.agent.format.blob import blob_digest, decode_blob, encode_blob
from bulwark.agent.format.codec import TensorHint
from bulwark.agent.format.constants import BLOB_HEADER_SIZE, TAG_SIZE
from bulwark.agent.format.crypto import chunk_id_and_key
from tests.lib.paths import kat_v1

KAT = kat_v1()
ID_KEY = bytes(range(32))
PLAIN = b"model weights " * 400
CID, KEY = chunk_id_and_key(ID_KEY, PLAIN)
BLOB = encode_blob(CID, KEY, PLAIN)


def pattern(n: int) -> bytes:
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def test_round_trip_and_layout():
    assert decode_blob(CID, KEY, BLOB, len(PLAIN)) == PLAIN
    assert BLOB[:4] == b"BWB1" and BLOB[4] == 1 and BLOB[5:8] == bytes(3)
    assert BLOB[8:40] == CID
    assert encode_blob(CID, KEY, PLAIN)[40:52] != BLOB[40:52]  # random nonce
    hinted = encode_blob(CID, KEY, PLAIN, TensorHint(2, 1))
    assert decode_blob(CID, KEY, hinted, len(PLAIN)) == PLAIN


@pytest.mark.parametrize("name", ["zstd", "bytegroup_w2_p1"])
def test_known_answer_blobs_decode(name: str):
    b = KAT["blob"]
    blob = bytes.fromhex(b[name])
    assert decode_blob(bytes.fromhex(b["id"]), bytes.fromhex(b["key"]), blob, 5000) == pattern(5000)


def test_empty_chunk():
    cid, key = chunk_id_and_key(ID_KEY, b"")
    blob = encode_blob(cid, key, b"")
    assert len(blob) == BLOB_HEADER_SIZE + 1 + TAG_SIZE
    assert decode_blob(cid, key, blob, 0) == b""


def test_every_byte_tampered_is_refused():
    cid, key = chunk_id_and_key(ID_KEY, b"short chunk")
    blob = encode_blob(cid, key, b"short chunk")
    for i in range(len(blob)):
        bad = bytearray(blob)
        bad[i] ^= 0x80
        with pytest.raises(BlobError):
            decode_blob(cid, key, bytes(bad), 11)


def test_wrong_key_and_wrong_id():
    with pytest.raises(BlobError, match="authentication failed"):
        decode_blob(CID, bytes(32), BLOB, len(PLAIN))
    other_id, _ = chunk_id_and_key(ID_KEY, b"other")
    with pytest.raises(BlobError, match="header names chunk"):
        decode_blob(other_id, KEY, BLOB, len(PLAIN))
    with pytest.raises(BlobError, match="chunk key must be"):
        decode_blob(CID, b"short", BLOB, len(PLAIN))


def test_blob_swapped_between_ids_refused():
    """Rewriting the header's id to match another chunk breaks the AEAD (id is in the AAD)."""
    other_id, _ = chunk_id_and_key(ID_KEY, b"other")
    forged = BLOB[:8] + other_id + BLOB[40:]
    with pytest.raises(BlobError, match="authentication failed"):
        decode_blob(other_id, KEY, forged, len(PLAIN))


def test_truncations():
    for n in (0, 3, 8, 40, 51, 52, 67, 68, len(BLOB) - 1):
        with pytest.raises(BlobError):
            decode_blob(CID, KEY, BLOB[:n], len(PLAIN))


@pytest.mark.parametrize("at, value, reason", [
    (0, ord("X"), "bad magic"), (4, 2, "unsupported blob version 2"), (6, 1, "reserved"),
])
def test_header_checks(at: int, value: int, reason: str):
    bad = bytearray(BLOB)
    bad[at] = value
    with pytest.raises(BlobError, match=reason):
        decode_blob(CID, KEY, bytes(bad), len(PLAIN))


def test_wrong_expected_size():
    with pytest.raises(BlobError, match=f"blob for chunk {CID[:8].hex()}"):
        decode_blob(CID, KEY, BLOB, len(PLAIN) - 1)


def test_digest_is_plain_blake3():
    assert blob_digest(BLOB) == blake3.blake3(BLOB).digest()
    assert len(blob_digest(b"")) == 32


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.integers(0, 5000))
def test_random_bytes_raise_only_blob_error(data: bytes, size: int):
    with pytest.raises(BlobError):
        decode_blob(CID, KEY, data, size)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 255), st.binary(max_size=16))
def test_mutated_blobs_raise_only_blob_error(at: int, xor: int, junk: bytes):
    bad = bytearray(BLOB)
    bad[at % len(bad)] ^= xor
    for candidate in (bytes(bad), BLOB + junk if junk else BLOB[:-1], BLOB[: at % len(BLOB)]):
        with pytest.raises(BlobError):
            decode_blob(CID, KEY, candidate, len(PLAIN))
