from __future__ import annotations

import blake3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import AgentError, KeyMaterialError, ManifestError
from bulwark.agent.format.crypto import (
    chunk_id_and_key,
    chunk_ids_digest,
    open_root,
    public_signing_key,
    seal_root,
    sealed_root_generation,
    sign_header,
    verify_header,
)
from bulwark.agent.keys.keyfile import derive_keyring
from tests.lib.paths import kat_v1

KAT = kat_v1()
RING = derive_keyring(bytes.fromhex(KAT["master"]), "t", KAT["node"])
OTHER = derive_keyring(bytes(32), "t", "n")


def pattern(n: int) -> bytes:
    return bytes((i * 7 + (i >> 8)) & 0xFF for i in range(n))


def test_blake3_library_matches_official_vectors():
    """Source: BLAKE3-team/BLAKE3 test_vectors/test_vectors.json (input_len 0 and 1)."""
    ctx = "BLAKE3 2019-12-27 16:29:52 test vectors context"
    assert blake3.blake3(b"", derive_key_context=ctx).digest(length=64).hex() == (
        "2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d"
        "905630c8be290dfcf3e6842f13bddd573c098c3f17361f1f206b8cad9d088aa4")
    assert blake3.blake3(b"\x00", derive_key_context=ctx).hexdigest() == (
        "b3e2e340a117a499c6cf2398a19ee0d29cca2bb7404c73063382693bf66cb06c")
    assert blake3.blake3(b"", key=b"whats the Elvish word for friend").hexdigest() == (
        "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26")


@pytest.mark.parametrize("name, data", [("empty", b""), ("abc", b"abc"),
                                        ("pattern_1MiB", pattern(1 << 20))])
def test_chunk_id_and_key_known_answers(name: str, data: bytes):
    cid, key = chunk_id_and_key(RING.id_key, data)
    assert (cid.hex(), key.hex()) == (KAT["chunks"][name]["id"], KAT["chunks"][name]["key"])
    assert chunk_id_and_key(RING.id_key, memoryview(data)) == (cid, key)


def test_chunk_id_depends_on_id_key():
    assert chunk_id_and_key(RING.id_key, b"x") != chunk_id_and_key(OTHER.id_key, b"x")
    cid, key = chunk_id_and_key(RING.id_key, b"x")
    assert cid != key and len(cid) == len(key) == 32


def test_chunk_ids_digest_sorted_distinct():
    a, b = b"\x01" * 32, b"\x02" * 32
    assert chunk_ids_digest([b, a, b]) == blake3.blake3(a + b).digest()
    assert chunk_ids_digest([]) == blake3.blake3(b"").digest()


def test_root_round_trip_and_wrong_key():
    sealed = seal_root(RING.restore_public, b"root bytes")
    assert sealed[:4] == b"BWR1" and len(sealed) == 4 + 32 + 10 + 16
    assert open_root(RING.restore_private, sealed) == b"root bytes"
    assert seal_root(RING.restore_public, b"root bytes") != sealed  # fresh ephemeral key
    with pytest.raises(KeyMaterialError, match="wrong tenant key"):
        open_root(OTHER.restore_private, sealed)


def test_root_known_answer_opens():
    assert open_root(RING.restore_private, bytes.fromhex(KAT["sealed_root"])) == bytes.fromhex(
        KAT["root"])


def test_root_write_only():
    with pytest.raises(KeyMaterialError, match="write-only"):
        open_root(None, seal_root(RING.restore_public, b"x"))


def test_root_malformed():
    sealed = seal_root(RING.restore_public, b"abc")
    with pytest.raises(ManifestError, match="truncated"):
        open_root(RING.restore_private, sealed[:51])
    with pytest.raises(ManifestError, match="magic"):
        open_root(RING.restore_private, b"XXXX" + sealed[4:])
    with pytest.raises(ManifestError, match="ephemeral"):
        open_root(RING.restore_private, b"BWR1" + bytes(32) + sealed[36:])


def test_root_every_byte_tamper():
    sealed = seal_root(RING.restore_public, b"abc")
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 0x01
        with pytest.raises((KeyMaterialError, ManifestError)):
            open_root(RING.restore_private, bytes(bad))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_open_root_random_input(data: bytes):
    with pytest.raises(AgentError) as exc:
        open_root(RING.restore_private, data)
    assert isinstance(exc.value, (KeyMaterialError, ManifestError))


def test_sign_verify():
    header = b"serialized header"
    sig = sign_header(RING.signing_seed, header)
    pub = public_signing_key(RING.signing_seed)
    verify_header(pub, header, sig)
    with pytest.raises(ManifestError, match="does not verify"):
        verify_header(pub, header + b"!", sig)
    with pytest.raises(ManifestError, match="does not verify"):
        verify_header(public_signing_key(OTHER.signing_seed), header, sig)
    with pytest.raises(ManifestError, match="does not verify"):
        verify_header(pub, header, sig[:-1])
    with pytest.raises(ManifestError, match="does not verify"):
        verify_header(b"short", header, sig)


def test_signature_known_answer():
    assert public_signing_key(RING.signing_seed).hex() == KAT["signing_public"]
    header = bytes.fromhex(KAT["header"])
    # Ed25519 signatures are deterministic
    assert sign_header(RING.signing_seed, header).hex() == KAT["signature"]
    verify_header(bytes.fromhex(KAT["signing_public"]), header, bytes.fromhex(KAT["signature"]))


def test_signature_covers_context():
    """A signature over the bare header (no context) must not verify."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    bare = Ed25519PrivateKey.from_private_bytes(RING.signing_seed).sign(b"h")
    with pytest.raises(ManifestError):
        verify_header(public_signing_key(RING.signing_seed), b"h", bare)


def test_generation_zero_seals_as_v1_and_rotated_generations_as_bwr2():
    v1 = seal_root(RING.restore_public, b"root")
    assert v1[:4] == b"BWR1" and len(v1) == 4 + 32 + 4 + 16 and sealed_root_generation(v1) == 0
    v2 = seal_root(RING.restore_public, b"root", generation=7)
    assert v2[:8] == b"BWR2" + (7).to_bytes(4, "little") and len(v2) == len(v1) + 4
    assert sealed_root_generation(v2) == 7
    assert open_root(RING.restore_private, v2) == b"root"
    assert sealed_root_generation(bytes.fromhex(KAT["sealed_root"])) == 0


def test_bwr2_generation_is_bound_by_the_aead():
    sealed = bytearray(seal_root(RING.restore_public, b"root", generation=1))
    sealed[4] = 2  # relabelled as generation 2: the associated data no longer matches
    with pytest.raises(KeyMaterialError, match="does not open"):
        open_root(RING.restore_private, bytes(sealed))
    with pytest.raises(ManifestError, match="truncated"):
        open_root(RING.restore_private, bytes(sealed[:8 + 32 + 15]))
    with pytest.raises(ManifestError, match="bad magic"):
        sealed_root_generation(b"BWR3" + bytes(60))
