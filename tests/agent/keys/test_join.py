"""Join tokens: the secret derived from the tenant key, the joined node's signing key, the
sealed bundle and its scope (FORMAT.md "Join token", "Joined nodes' signing keys")."""

from __future__ import annotations

import json
import os

import blake3
import pytest

from bulwark.agent.errors import KeyMaterialError, UsageError
from bulwark.agent.format.crypto import public_signing_key
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.keys.join import JoinToken
from bulwark.agent.keys.keyfile import derive_keyring, join_token_secret, joined_signing_seed

MASTER = bytes(range(32))
RING = derive_keyring(MASTER, "acme", "operator")

# Frozen: FORMAT.md "Joined nodes' signing keys" with master = bytes 0..31, token id
# 0123456789abcdef, prefix "gpu-", node "gpu-7" (re-derived with plain BLAKE3 below).
KAT_SECRET = "3323b097a326522cda60b5a0c416fbe937643f2cc8e936cd94fab78f7db6111b"
KAT_SEED = "86a25fc5140c37559c9fd5569402d004701071d6d74ac40abb69aa6e2f170c6b"
KAT_PUBLIC = "8905eb59dd292345b0ec5fea26de67d1e8c35f85db11edb5a90935f74f6e1064"


def test_derivations_match_format_md_and_the_frozen_vectors():
    origin = JoinOrigin("0123456789abcdef", prefix="gpu-")
    secret = join_token_secret(MASTER, origin)
    by_hand = blake3.blake3(MASTER + b"0123456789abcdef" + b"prefix:gpu-",
                            derive_key_context="bulwark 2026-11-29 v1 join token secret").digest()
    assert secret == by_hand and secret.hex() == KAT_SECRET
    seed = joined_signing_seed(secret, "gpu-7")
    assert seed == blake3.blake3(
        secret + b"gpu-7", derive_key_context="bulwark 2026-11-29 v1 joined node signing key"
    ).digest()
    assert seed.hex() == KAT_SEED and public_signing_key(seed).hex() == KAT_PUBLIC
    assert RING.signing_public_key("gpu-7", origin).hex() == KAT_PUBLIC


def test_the_secret_binds_master_token_and_scope():
    base = JoinOrigin("0123456789abcdef", prefix="gpu-")
    secrets = {
        join_token_secret(MASTER, base),
        join_token_secret(os.urandom(32), base),
        join_token_secret(MASTER, JoinOrigin("0123456789abcdee", prefix="gpu-")),
        join_token_secret(MASTER, JoinOrigin("0123456789abcdef", prefix="gpu")),
        join_token_secret(MASTER, JoinOrigin("0123456789abcdef", name="gpu-")),
    }
    assert len(secrets) == 5


def test_a_new_token_carries_the_secret_the_master_derives_and_round_trips_as_text():
    token = JoinToken.new(MASTER, prefix="gpu-")
    assert token.secret == join_token_secret(MASTER, JoinOrigin(token.id, prefix="gpu-"))
    assert JoinToken.parse(token.text()) == token
    assert token.signing_seed("gpu-3") == joined_signing_seed(token.secret, "gpu-3")
    assert token.signing_seed("gpu-3") != token.signing_seed("gpu-4")
    with pytest.raises(ValueError, match="exactly one of name and prefix"):
        JoinToken.new(MASTER)


def test_the_bundle_carries_write_material_and_scope_never_the_master():
    token = JoinToken.new(MASTER, name="gpu-9")
    sealed = token.seal(RING, JoinOrigin(token.id, name="gpu-9"))
    assert MASTER not in sealed and RING.restore_private not in sealed
    opened = token.open(sealed)
    assert opened == {"tenant": "acme", "id_key": RING.id_key,
                      "restore_public": RING.restore_public, "restore_generation": 0,
                      "restore_authority": RING.restore_authority,
                      "origin": JoinOrigin(token.id, name="gpu-9")}
    other = JoinToken.new(MASTER, name="gpu-9")
    with pytest.raises(KeyMaterialError, match="does not open"):
        other.open(sealed)
    with pytest.raises(KeyMaterialError, match="does not open"):
        token.open(sealed[:-1] + bytes([sealed[-1] ^ 1]))


def test_a_bundle_without_the_scope_is_refused_naming_what_to_do():
    """A token sealed by an older vaultctl: its secret is random, no reader could derive the
    key a node would make from it."""
    token = JoinToken.new(MASTER, name="gpu-9")
    doc = {"tenant": "acme", "id_key": RING.id_key.hex(),
           "restore_public": RING.restore_public.hex()}
    nonce = os.urandom(12)
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    old = nonce + AESGCM(token.wrap).encrypt(nonce, json.dumps(doc).encode(),
                                             f"bwj1:{token.id}".encode())
    with pytest.raises(KeyMaterialError, match="does not state the token's scope.*make a new"):
        token.open(old)


def test_parse_refuses_what_is_not_a_token():
    with pytest.raises(UsageError, match="not a join token"):
        JoinToken.parse("bwj1.xyz.ABC")
