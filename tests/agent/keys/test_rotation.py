"""agent.keys.rotation: new generations in the tenant key file, signed announcements, and
which restore key a backup seals to (real files, real X25519/Ed25519)."""

from __future__ import annotations

import logging
import os
import stat
import tomllib
from pathlib import Path

import pytest
import tomli_w

from bulwark.agent.drill.report import tenant_key_for
from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.format.crypto import open_root, seal_root, sealed_root_generation
from bulwark.agent.format.joined import JoinOrigin
from bulwark.agent.keys.join import JoinToken
from bulwark.agent.keys.keyfile import (
    derive_keyring,
    generate_tenant_key_file,
    load_keyring,
    write_joined_node_key_file,
    write_node_key_file,
)
from bulwark.agent.keys.rotation import (
    STATE_FILE,
    rotate_key_file,
    sealing_key,
    sign_announcement,
    verify_announcement,
)
from tests.lib.paths import kat_v1


@pytest.fixture
def tenant(tmp_path: Path) -> Path:
    p = tmp_path / "tenant.key"
    generate_tenant_key_file(p, tenant="acme")
    return p


def _rewrite(path: Path, doc: dict) -> Path:
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, tomli_w.dumps(doc).encode())
    os.close(fd)
    return path


def test_rotation_adds_a_generation_and_keeps_every_older_one(tenant: Path):
    before = load_keyring(tenant, "n1")
    assert (before.restore_generation, [g for g, _ in before.restore_keys]) == (0, [0])
    assert rotate_key_file(tenant) == 1 and rotate_key_file(tenant) == 2
    after = load_keyring(tenant, "n1")
    assert after.restore_generation == 2 and [g for g, _ in after.restore_keys] == [0, 1, 2]
    assert after.restore_key_for(0) == before.restore_private  # generation 0: the master's
    assert after.restore_public != before.restore_public and after.id_key == before.id_key
    assert stat.S_IMODE(tenant.stat().st_mode) == 0o600
    doc = tomllib.loads(tenant.read_text())
    assert doc["version"] == 2 and doc["master"] and len(doc["restore_keys"]) == 2
    assert not tenant.with_name("tenant.key.rotating").exists()
    old_root = seal_root(before.restore_public, b"old")
    new_root = seal_root(after.restore_public, b"new", after.restore_generation)
    for sealed, plain in ((old_root, b"old"), (new_root, b"new")):
        assert open_root(after.restore_key_for(sealed_root_generation(sealed)), sealed) == plain


def test_a_rotation_in_progress_or_a_node_key_file_is_refused(tenant: Path, tmp_path: Path):
    tenant.with_name("tenant.key.rotating").write_bytes(b"")
    with pytest.raises(KeyMaterialError, match="already exists"):
        rotate_key_file(tenant)
    assert load_keyring(tenant, "n1").restore_generation == 0  # untouched
    write_node_key_file(tenant, "n1", tmp_path / "n1.key")
    with pytest.raises(KeyMaterialError, match="only the tenant key file"):
        rotate_key_file(tmp_path / "n1.key")


def test_a_node_key_file_after_rotation_is_still_write_only(tenant: Path, tmp_path: Path):
    rotate_key_file(tenant)
    write_node_key_file(tenant, "n1", tmp_path / "n1.key")
    doc = tomllib.loads((tmp_path / "n1.key").read_text())
    assert doc["version"] == 2 and doc["restore_generation"] == 1
    assert not {"master", "restore_private", "restore_keys"} & set(doc)
    ring, full = load_keyring(tmp_path / "n1.key", "n1"), load_keyring(tenant, "n1")
    assert (ring.restore_public, ring.restore_authority) == (full.restore_public,
                                                            full.restore_authority)
    assert ring.restore_private is None and ring.restore_keys == ()
    with pytest.raises(KeyMaterialError, match="write-only"):
        ring.restore_key_for(1)


def test_a_key_file_that_lost_a_generation_names_it(tenant: Path, tmp_path: Path):
    rotate_key_file(tenant)
    rotate_key_file(tenant)
    doc = tomllib.loads(tenant.read_text())
    doc["restore_keys"] = [k for k in doc["restore_keys"] if k["generation"] != 1]
    ring = load_keyring(_rewrite(tmp_path / "lost.key", doc), "n1")
    with pytest.raises(KeyMaterialError, match=r"generation 1, which this key file does not "
                       r"hold \(it holds generations 0, 2\)") as exc:
        ring.restore_key_for(1)
    assert "keys recover" in str(exc.value)


def test_announcements_verify_only_with_the_tenants_authority(tenant: Path, tmp_path: Path):
    with pytest.raises(KeyMaterialError, match="has not been rotated"):
        sign_announcement(load_keyring(tenant, "n1"))
    rotate_key_file(tenant)
    ring = load_keyring(tenant, "n1")
    data, signature = sign_announcement(ring)
    assert len(data) == 40 and data[:8] == b"BWRK\x01\x00\x00\x00" and len(signature) == 64
    found = verify_announcement(ring.restore_authority, data, signature)
    assert (found.generation, found.public) == (1, ring.restore_public)
    other = derive_keyring(os.urandom(32), "other", "n1")
    with pytest.raises(KeyMaterialError, match="generation 1: the signature does not verify"):
        verify_announcement(other.restore_authority, data, signature)
    swapped = data[:8] + other.restore_public  # the vault (or anyone) swaps in its own key
    with pytest.raises(KeyMaterialError, match="does not verify"):
        verify_announcement(ring.restore_authority, swapped, signature)


def test_nodes_seal_to_the_newest_verified_generation_and_never_go_back(tenant: Path,
                                                                       tmp_path: Path, caplog):
    write_node_key_file(tenant, "n1", tmp_path / "n1.key")
    node = load_keyring(tmp_path / "n1.key", "n1")
    cache = tmp_path / "cache"
    assert sealing_key(node, [], cache).generation == 0
    rotate_key_file(tenant)
    g1 = sign_announcement(load_keyring(tenant, "n1"))
    forged_key = derive_keyring(os.urandom(32), "x", "n1")
    forged = (b"BWRK\x09\x00\x00\x00" + forged_key.restore_public, bytes(64))
    with caplog.at_level(logging.WARNING):
        chosen = sealing_key(node, [g1, forged], cache)
    assert (chosen.generation, chosen.public, chosen.source) == (1, g1[0][8:], "vault")
    assert "generation 9: the signature does not verify" in caplog.text
    assert (cache / STATE_FILE).read_bytes() == g1[0] + g1[1]
    remembered = sealing_key(node, [], cache)  # a vault that withholds it: no step back
    assert (remembered.generation, remembered.source) == (1, "cache")


def test_a_node_key_file_from_before_rotation_keeps_its_key_and_says_so(tenant: Path,
                                                                       tmp_path: Path, caplog):
    write_node_key_file(tenant, "n1", tmp_path / "n1.key")
    doc = tomllib.loads((tmp_path / "n1.key").read_text())
    del doc["restore_authority"]  # as written before rotation existed
    old = load_keyring(_rewrite(tmp_path / "n1.key", doc), "n1")
    rotate_key_file(tenant)
    with caplog.at_level(logging.WARNING):
        chosen = sealing_key(old, [sign_announcement(load_keyring(tenant, "n1"))], None)
    assert chosen.generation == 0 and "no restore_authority" in caplog.text


def test_drill_keys_and_v1_vectors_survive_rotation(tenant: Path):
    before = tenant_key_for(load_keyring(tenant, "runner"), "runner")
    rotate_key_file(tenant)
    assert tenant_key_for(load_keyring(tenant, "runner"), "runner") == before
    kat = kat_v1()
    ring = derive_keyring(bytes.fromhex(kat["master"]), "t", kat["node"])
    sealed = bytes.fromhex(kat["sealed_root"])
    assert ring.restore_private.hex() == kat["restore_private"]
    assert open_root(ring.restore_key_for(sealed_root_generation(sealed)), sealed).hex() == \
        kat["root"]


def test_a_node_joining_after_rotation_gets_the_generation_and_authority(tenant: Path,
                                                                        tmp_path: Path):
    rotate_key_file(tenant)
    ring = load_keyring(tenant, "operator")
    token = JoinToken.new(ring.master, name="gpu-9")
    bundle = token.open(token.seal(ring, JoinOrigin(token.id, name="gpu-9")))
    write_joined_node_key_file(
        tmp_path / "gpu-9.key", bundle["tenant"], "gpu-9", bundle["id_key"],
        bundle["restore_public"], token.signing_seed("gpu-9"), bundle["origin"],
        restore_generation=bundle["restore_generation"],
        restore_authority=bundle["restore_authority"])
    node = load_keyring(tmp_path / "gpu-9.key", "gpu-9")
    assert (node.restore_generation, node.restore_public, node.restore_authority) == (
        1, ring.restore_public, ring.restore_authority)
    assert node.restore_keys == () and node.restore_private is None
