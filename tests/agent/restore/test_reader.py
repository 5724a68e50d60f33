"""check_signer: a header's key is bound to its node from the key ring alone (the vault's
registry is never asked; the e2e proof is tests/e2e/test_fleet_keys.py)."""

from __future__ import annotations

import dataclasses
import os

import pytest

from bulwark.agent.errors import KeyMaterialError, ManifestError
from bulwark.agent.format.crypto import public_signing_key
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.format.snapshot import SnapshotHeader
from bulwark.agent.keys.join import JoinToken
from bulwark.agent.keys.keyfile import KeyRing, derive_keyring
from bulwark.agent.restore.reader import check_signer

MASTER = os.urandom(32)
TENANT = derive_keyring(MASTER, "acme", "operator")
TOKEN = JoinToken.new(MASTER, prefix="gpu-")
ORIGIN = JoinOrigin(TOKEN.id, prefix="gpu-")


def header(node: str, key: bytes, joined: JoinOrigin | None = None) -> SnapshotHeader:
    return SnapshotHeader(node=node, hostname="h", paths=("/d",), tags=(), client_time_ns=1,
                          files=1, bytes=1, sealed_root=b"r", chunk_count=1,
                          chunk_ids_digest=b"d" * 32, node_public_key=key, joined=joined)


def joined_node_ring(name: str) -> KeyRing:
    """What ``vault-agent enroll`` leaves on a node that joined with TOKEN."""
    return KeyRing("acme", TENANT.id_key, TENANT.restore_public, None,
                   TOKEN.signing_seed(name), name, joined=ORIGIN)


def test_the_tenant_key_accepts_init_made_and_joined_nodes():
    init_made = derive_keyring(MASTER, "acme", "node-1")
    check_signer("s", header("node-1", public_signing_key(init_made.signing_seed)), TENANT)
    joined = joined_node_ring("gpu-7")
    check_signer("s", header("gpu-7", public_signing_key(joined.signing_seed), ORIGIN),
                 TENANT)


@pytest.mark.parametrize(("case", "words"), [
    ("random key, no token", "the tenant key gives it another, and the header names no "
                             "join token"),
    ("random key, real token", f"join token {TOKEN.id} (names starting 'gpu-') gives it "
                               "another"),
    ("joined key, token dropped", "the header names no join token"),
    ("joined key, other scope", "gives it another"),
    ("token that does not cover the name", "which does not cover node 'gpu-7'"),
    ("another node's joined key", "gives it another"),
])
def test_a_key_the_tenant_key_does_not_derive_is_refused(case, words):
    own = public_signing_key(TOKEN.signing_seed("gpu-7"))
    h = {
        "random key, no token": header("gpu-7", public_signing_key(os.urandom(32))),
        "random key, real token": header("gpu-7", public_signing_key(os.urandom(32)), ORIGIN),
        "joined key, token dropped": header("gpu-7", own),
        "joined key, other scope": header("gpu-7", own, JoinOrigin(TOKEN.id, name="gpu-7")),
        "token that does not cover the name": header(
            "gpu-7", own, JoinOrigin(TOKEN.id, prefix="cpu-")),
        "another node's joined key": header(
            "gpu-7", public_signing_key(TOKEN.signing_seed("gpu-8")), ORIGIN),
    }[case]
    with pytest.raises(ManifestError, match="snapshot s1: ") as err:
        check_signer("s1", h, TENANT)
    assert words in str(err.value)


def test_a_node_key_file_checks_only_its_own_node():
    ring = joined_node_ring("gpu-7")
    own = public_signing_key(ring.signing_seed)
    check_signer("s", header("gpu-7", own, ORIGIN), ring)
    with pytest.raises(ManifestError, match="not signed with the signing key of node 'gpu-7'"):
        check_signer("s", header("gpu-7", own, dataclasses.replace(ORIGIN, prefix="gpu")),
                     ring)
    other = public_signing_key(TOKEN.signing_seed("gpu-8"))
    with pytest.raises(KeyMaterialError, match="key file of node 'gpu-7'.*operator.toml"):
        check_signer("s", header("gpu-8", other, ORIGIN), ring)
