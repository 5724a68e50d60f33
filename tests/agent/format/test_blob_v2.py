"""Blob format v2 (agent.format.blob): deterministic, content-addressed, nonce-safe.

FORMAT.md "Chunk blob" and "Nonce strategy" make three promises, each checked here:
the same plaintext sealed the same way is the same blob (so its hash is a chunk id every
node agrees on); different payloads under one chunk key never share a nonce; and the
frozen vectors still seal and open.
"""

from __future__ import annotations

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import BlobError
from bulwark.agent.format.blob import decode_blob, encode_blob_v2, seal_chunk
from bulwark.agent.format.codec import TensorHint
from bulwark.agent.format.constants import BLOB_V2_HEADER_SIZE, NONCE_SIZE, TAG_SIZE
from bulwark.agent.keys.keyfile import derive_keyring
from tests.lib.paths import kat_v2

KAT = kat_v2()
RING = derive_keyring(bytes.fromhex(KAT["master"]), KAT["tenant"], "gpu-node-001")
OTHER_NODE = derive_keyring(bytes.fromhex(KAT["master"]), KAT["tenant"], "gpu-node-002")
ID_KEY = RING.id_key

hints = st.one_of(st.none(), st.builds(TensorHint, st.sampled_from([2, 4]), st.integers(0, 1)))


def pattern(n: int) -> bytes:
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


PLAINTEXTS = {"empty": b"", "abc": b"abc", "pattern_5000_zstd": pattern(5000),
              "pattern_65536_bytegroup_w2": pattern(65536)}


@pytest.mark.parametrize("name", sorted(KAT["blobs"]))
def test_known_answers_seal_and_open(name):
    v = KAT["blobs"][name]
    data = PLAINTEXTS[name]
    hint = TensorHint(*v["hint"]) if v["hint"] else None
    sealed = seal_chunk(ID_KEY, data, hint)
    assert (sealed.chunk_id.hex(), sealed.key.hex(), sealed.blob.hex()) == (
        v["chunk_id"], v["key"], v["blob"])
    assert sealed.chunk_id == blake3.blake3(sealed.blob).digest()
    assert decode_blob(sealed.chunk_id, sealed.key, bytes.fromhex(v["blob"]), len(data)) == data


def test_every_node_of_a_tenant_seals_the_same_blob():
    """Deduplication across nodes: node keys differ, the id key and so the blob do not."""
    data = pattern(200_000)
    assert seal_chunk(RING.id_key, data) == seal_chunk(OTHER_NODE.id_key, data)


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=20_000), hint=hints)
def test_same_plaintext_and_codec_give_the_same_blob_and_it_opens(data, hint):
    a, b = seal_chunk(ID_KEY, data, hint), seal_chunk(ID_KEY, data, hint)
    assert a == b
    assert a.chunk_id == blake3.blake3(a.blob).digest()
    assert decode_blob(a.chunk_id, a.key, a.blob, len(data)) == data


@settings(max_examples=60, deadline=None)
@given(data=st.binary(min_size=64, max_size=20_000), hint=hints)
def test_different_payloads_under_one_key_never_share_a_nonce(data, hint):
    """A chunk sealed with and without a tensor hint (two nodes that parsed the file
    differently) has one key; if the payloads differ, so do nonces, blobs and ids."""
    plain, hinted = seal_chunk(ID_KEY, data), seal_chunk(ID_KEY, data, hint)
    assert plain.key == hinted.key
    nonce = slice(BLOB_V2_HEADER_SIZE - NONCE_SIZE, BLOB_V2_HEADER_SIZE)
    same_payload = plain.blob == hinted.blob
    assert (plain.blob[nonce] == hinted.blob[nonce]) == same_payload
    assert (plain.chunk_id == hinted.chunk_id) == same_payload


@settings(max_examples=40, deadline=None)
@given(data=st.binary(min_size=1, max_size=4000), flip=st.integers(min_value=0))
def test_any_altered_byte_is_refused(data, flip):
    sealed = seal_chunk(ID_KEY, data)
    blob = bytearray(sealed.blob)
    blob[flip % len(blob)] ^= 0x01
    with pytest.raises(BlobError):
        decode_blob(sealed.chunk_id, sealed.key, bytes(blob), len(data))


def test_a_blob_with_a_non_canonical_nonce_is_refused():
    """Only the synthetic nonce opens: a blob re-encrypted under another nonce (valid AEAD,
    same key) is not the canonical blob of its plaintext."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from bulwark.agent.format.blob import v2_keys

    sealed = seal_chunk(ID_KEY, b"payload")
    blob_key, _ = v2_keys(sealed.key)
    prefix, payload_ct = sealed.blob[:8], sealed.blob[BLOB_V2_HEADER_SIZE:]
    payload = AESGCM(blob_key).decrypt(sealed.blob[8:BLOB_V2_HEADER_SIZE], payload_ct, prefix)
    other = bytes(12)
    forged = prefix + other + AESGCM(blob_key).encrypt(other, payload, prefix)
    with pytest.raises(BlobError, match="not canonical"):
        decode_blob(sealed.chunk_id, sealed.key, forged, 7)


def test_truncated_and_wrong_key_are_refused():
    sealed = seal_chunk(ID_KEY, b"x" * 100)
    with pytest.raises(BlobError, match="truncated"):
        decode_blob(sealed.chunk_id, sealed.key, sealed.blob[:BLOB_V2_HEADER_SIZE + TAG_SIZE - 1],
                    100)
    with pytest.raises(BlobError, match="authentication failed"):
        decode_blob(sealed.chunk_id, bytes(32), sealed.blob, 100)
    with pytest.raises(ValueError):
        encode_blob_v2(b"short", b"x")
