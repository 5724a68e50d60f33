"""Damaged and hostile data through real processes: every case names the problem,
exits non-zero and leaves nothing half-done."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import VaultError
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.manifest import ChunkRef
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from tests.e2e.forge import chunk_ids_of, commit_raw_manifest, file_entry, upload
from tests.e2e.treeutil import make_tree
from tests.sealing import unseal


@pytest.fixture
def keyring(site):
    config = load_agent_config(site.operator_toml)
    return load_keyring(config.key_file, config.node)


@pytest.fixture
def client(site):
    with VaultClient.from_config(load_agent_config(site.operator_toml)) as c:
        yield c


def stored_blob(store: Path, chunk_id: bytes) -> Path:
    matches = [p for p in store.rglob(chunk_id.hex()) if p.is_file()]
    assert len(matches) == 1, f"blob {chunk_id.hex()} not found once in {store}"
    return matches[0]


def corrupt(path: Path) -> None:
    unseal(path)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x40
    path.write_bytes(bytes(data))


def test_corrupted_blob_is_reported_by_verify_and_fails_only_its_file(site, keyring, tmp_path):
    source = make_tree(tmp_path / "src")
    victim = source / "ckpt" / "layer.0" / "weights.safetensors"  # one chunk (300 kB)
    backup = site.backup(source)
    with VaultClient.from_config(load_agent_config(site.operator_toml)) as client:
        [chunk_id] = chunk_ids_of(client, keyring, backup["snapshot"], victim)
    corrupt(stored_blob(site.store, chunk_id))

    verify = site.ctl("verify", backup["snapshot"], "--json")
    assert verify.code == 1
    report = verify.json()
    assert report["ok"] is False
    assert report["damaged"] == [{"chunk": chunk_id.hex(), "files": [str(victim)]}]

    human = site.ctl("verify", "latest")
    assert human.code == 1 and str(victim) in human.out

    target = tmp_path / "r"
    restore = site.ctl("restore", "latest", target)
    assert restore.code == 1
    assert str(victim) in restore.err and "not restored" in restore.err
    out = target / str(source).lstrip("/")
    assert not (out / "ckpt" / "layer.0" / "weights.safetensors").exists()
    assert (out / "ckpt" / "big.bin").read_bytes() == (source / "ckpt" / "big.bin").read_bytes()
    leftovers = [p for p in target.rglob("*") if ".restore-" in p.name]
    assert leftovers == []


def test_verify_of_intact_snapshot_is_ok(site, tmp_path):
    source = make_tree(tmp_path / "src")
    site.backup(source)
    verify = site.ctl("verify", "latest", "--json")
    assert verify.code == 0, verify.err
    report = verify.json()
    assert report["ok"] is True and report["damaged"] == [] and report["chunks"] > 5


@pytest.mark.parametrize("hostile", [b"../escaped.txt", b"/etc/bulwark-escaped",
                                     b"ok/../../escaped.txt"])
def test_traversal_in_manifest_is_refused_before_any_write(site, keyring, client, tmp_path,
                                                           hostile):
    content = b"written by a hostile manifest\n"
    ref = upload(client, keyring, content)
    entries = [file_entry(b"a-fine-file", ref, content), file_entry(hostile, ref, content)]
    snapshot = commit_raw_manifest(client, keyring, entries, [ref])
    target = tmp_path / "deep" / "target"
    result = site.ctl("restore", snapshot, target)
    assert result.code == 1
    assert "path" in result.err.lower() and hostile.decode() in result.err
    assert not target.exists()
    assert not (tmp_path / "deep" / "escaped.txt").exists()
    assert not Path("/etc/bulwark-escaped").exists()


def test_symlink_escape_is_refused(site, keyring, client, tmp_path):
    from bulwark.protos.bulwark.v1 import manifest_pb2
    content = b"through the link\n"
    ref = upload(client, keyring, content)
    outside = tmp_path / "outside"
    outside.mkdir()
    link = manifest_pb2.Entry(path=b"link", type=manifest_pb2.ENTRY_TYPE_SYMLINK, mode=0o777,
                              link_target=str(outside).encode())
    entries = [link, file_entry(b"link/pwned.txt", ref, content)]
    snapshot = commit_raw_manifest(client, keyring, entries, [ref])
    result = site.ctl("restore", snapshot, tmp_path / "target")
    assert result.code == 1, result.err
    assert not (outside / "pwned.txt").exists()


def test_wrong_key_is_a_clear_error_with_no_output(site, tmp_path):
    from bulwark.agent.keys.keyfile import generate_tenant_key_file
    source = make_tree(tmp_path / "src")
    site.backup(source)
    other = tmp_path / "other.key"
    generate_tenant_key_file(other)
    config = tmp_path / "other.toml"
    config.write_text(site.operator_toml.read_text().replace('"tenant.key"', f'"{other}"'))
    target = tmp_path / "r"
    result = site.ctl("restore", "latest", target, config=config)
    assert result.code == 2, result.err
    assert "key" in result.err.lower()
    assert not target.exists()
    verify = site.ctl("verify", "latest", config=config)
    assert verify.code == 2


def test_missing_key_file_is_a_clear_error(site, tmp_path):
    (site.dir / "tenant.key").rename(tmp_path / "moved.key")
    result = site.ctl("restore", "latest", tmp_path / "r")
    assert result.code == 2
    assert "tenant.key" in result.err
    assert not (tmp_path / "r").exists()


def test_vault_refuses_commit_referencing_a_missing_chunk(site, keyring, client):
    content = b"uploaded"
    ref = upload(client, keyring, content)
    sealed = seal_chunk(keyring.id_key, b"never uploaded")
    ghost = ChunkRef(sealed.chunk_id, sealed.key, sealed.size)
    entries = [file_entry(b"f", ghost, b"never uploaded")]
    with pytest.raises(VaultError, match="refused"):
        commit_raw_manifest(client, keyring, entries, [ref, ghost])
    assert client.list_snapshots() == []
