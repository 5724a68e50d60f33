from __future__ import annotations

import os
import stat
import tomllib
from pathlib import Path

import pytest

from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.format.crypto import open_root, seal_root
from bulwark.agent.keys.keyfile import (
    derive_keyring,
    generate_tenant_key_file,
    load_keyring,
    write_node_key_file,
)
from tests.lib.paths import kat_v1

KAT = kat_v1()


@pytest.fixture
def tenant_file(tmp_path: Path) -> Path:
    p = tmp_path / "tenant.key"
    generate_tenant_key_file(p, tenant="acme")
    return p


def test_tenant_file_is_0600_and_complete(tenant_file: Path):
    assert stat.S_IMODE(tenant_file.stat().st_mode) == 0o600
    doc = tomllib.loads(tenant_file.read_text())
    assert doc["version"] == 1 and doc["kind"] == "tenant" and doc["tenant"] == "acme"
    ring = load_keyring(tenant_file, "n1")
    assert ring.can_restore and ring.node == "n1" and ring.tenant == "acme"
    assert len(ring.id_key) == len(ring.restore_public) == len(ring.signing_seed) == 32


def test_default_tenant_is_uuid(tmp_path: Path):
    p = tmp_path / "t.key"
    generate_tenant_key_file(p)
    assert len(tomllib.loads(p.read_text())["tenant"]) == 36


def test_refuses_to_overwrite(tenant_file: Path):
    before = tenant_file.read_bytes()
    with pytest.raises(KeyMaterialError, match="refusing to overwrite"):
        generate_tenant_key_file(tenant_file)
    assert tenant_file.read_bytes() == before


def test_group_readable_refused(tenant_file: Path):
    os.chmod(tenant_file, 0o644)
    with pytest.raises(KeyMaterialError, match="chmod 600") as exc:
        load_keyring(tenant_file, "n1")
    assert str(tenant_file) in str(exc.value)


def test_node_file_is_write_only(tenant_file: Path, tmp_path: Path):
    node_file = tmp_path / "n1.key"
    write_node_key_file(tenant_file, "n1", node_file)
    assert stat.S_IMODE(node_file.stat().st_mode) == 0o600
    doc = tomllib.loads(node_file.read_text())
    assert doc["kind"] == "node" and doc["node"] == "n1"
    assert "master" not in doc and "restore_private" not in doc
    full = load_keyring(tenant_file, "n1")
    ring = load_keyring(node_file, "n1")
    assert ring.restore_private is None and not ring.can_restore
    assert (ring.id_key, ring.restore_public, ring.signing_seed) == (
        full.id_key, full.restore_public, full.signing_seed)
    sealed = seal_root(ring.restore_public, b"root")
    with pytest.raises(KeyMaterialError, match="write-only"):
        open_root(ring.restore_private, sealed)
    assert open_root(full.restore_private, sealed) == b"root"
    assert "master" not in repr(ring) and ring.id_key.hex() not in repr(ring)


def test_node_file_bound_to_node(tenant_file: Path, tmp_path: Path):
    node_file = tmp_path / "n1.key"
    write_node_key_file(tenant_file, "n1", node_file)
    with pytest.raises(KeyMaterialError, match="belongs to node 'n1'"):
        load_keyring(node_file, "n2")
    with pytest.raises(KeyMaterialError, match="tenant key file"):
        write_node_key_file(node_file, "n3", tmp_path / "n3.key")


def test_signing_seed_differs_per_node(tenant_file: Path):
    a, b = load_keyring(tenant_file, "a"), load_keyring(tenant_file, "b")
    assert a.signing_seed != b.signing_seed
    assert a.id_key == b.id_key


def _write(p: Path, text: str) -> Path:
    fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, text.encode())
    os.close(fd)
    return p


@pytest.mark.parametrize("text, reason", [
    ("not = [toml", "not valid TOML"),
    ("version = 3\ntenant='t'\nmaster='AAAA'", "unsupported key file version"),
    ("version = 1\ntenant='t'\nmaster='" + "A" * 43 + "='\n[[restore_keys]]\ngeneration = 1\n"
     "private='" + "A" * 43 + "='", "not version 2"),
    ("version = 2\ntenant='t'\nmaster='" + "A" * 43 + "='\n[[restore_keys]]\ngeneration = 0\n"
     "private='" + "A" * 43 + "='", r"restore_keys\[0\]\.generation"),
    ("version = 2\ntenant='t'\nmaster='" + "A" * 43 + "='\n[[restore_keys]]\ngeneration = 1\n"
     "private='AAAA'", r"restore_keys\[0\]: key 'private' must decode to 32 bytes"),
    ("version = 1\nmaster='AAAA'", "'tenant'"),
    ("version = 1\ntenant='t'\nmaster='AAAA'", "must decode to 32 bytes"),
    ("version = 1\ntenant='t'\nmaster='!!!'", "not valid base64"),
    ("version = 1\nkind='weird'\ntenant='t'", "unknown key file kind"),
    ("version = 1\nkind='node'\ntenant='t'\nnode='n1'\nid_key='AAAA'", "'restore_public'"),
])
def test_bad_key_files(tmp_path: Path, text: str, reason: str):
    p = _write(tmp_path / "bad.key", text)
    with pytest.raises(KeyMaterialError, match=reason) as exc:
        load_keyring(p, "n1")
    assert str(p) in str(exc.value)


def test_missing_file(tmp_path: Path):
    with pytest.raises(KeyMaterialError, match="does not exist"):
        load_keyring(tmp_path / "nope.key", "n1")


def test_kdf_known_answers():
    ring = derive_keyring(bytes.fromhex(KAT["master"]), "t", KAT["node"])
    assert ring.id_key.hex() == KAT["id_key"]
    assert ring.restore_private.hex() == KAT["restore_private"]
    assert ring.restore_public.hex() == KAT["restore_public"]
    assert ring.signing_seed.hex() == KAT["signing_seed"]


def test_a_joined_node_key_file_names_its_token_and_stays_write_only(tmp_path: Path):
    from bulwark.agent.format.joined import JoinOrigin
    from bulwark.agent.keys.keyfile import write_joined_node_key_file

    tenant = derive_keyring(os.urandom(32), "acme", "op")
    origin = JoinOrigin("0123456789abcdef", prefix="gpu-")
    seed = os.urandom(32)
    path = tmp_path / "node.key"
    write_joined_node_key_file(path, "acme", "gpu-1", tenant.id_key, tenant.restore_public,
                               seed, origin)
    doc = tomllib.loads(path.read_text())
    assert (doc["join_token"], doc["join_prefix"]) == (origin.token_id, "gpu-")
    assert "join_name" not in doc and "master" not in doc and "restore_private" not in doc
    ring = load_keyring(path, "gpu-1")
    assert ring.joined == origin and ring.signing_seed == seed and not ring.can_restore
    with pytest.raises(KeyMaterialError, match="does not cover node 'cpu-1'"):
        write_joined_node_key_file(tmp_path / "other.key", "acme", "cpu-1", tenant.id_key,
                                   tenant.restore_public, seed, origin)


@pytest.mark.parametrize(("extra", "reason"), [
    ('join_token = "0123456789abcdef"\njoin_prefix = "cpu-"\n', "does not cover node 'n1'"),
    ('join_token = "xyz"\njoin_name = "n1"\n', "join token id 'xyz'"),
    ('join_token = "0123456789abcdef"\n', "exactly one of name and prefix"),
    ('join_token = "0123456789abcdef"\njoin_name = 7\n', "must be strings"),
])
def test_bad_join_fields_in_a_node_key_file(tmp_path: Path, extra: str, reason: str):
    k = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
    p = _write(tmp_path / "n.key", f'version = 1\nkind = "node"\ntenant = "t"\nnode = "n1"\n'
               f'id_key = "{k}"\nrestore_public = "{k}"\nsigning_seed = "{k}"\n{extra}')
    with pytest.raises(KeyMaterialError, match=reason):
        load_keyring(p, "n1")
