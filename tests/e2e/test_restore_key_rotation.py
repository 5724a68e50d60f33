"""Restore key rotation against a real vaultd over mTLS: the operator rotates (escrowing the
rotated key file), the node learns the new public key from the vault at its next backup
(its key file unchanged and still write-only), one operator key file restores snapshots
sealed to every generation, a key file without a generation names it, and the escrow of
the rotated file brings every generation back."""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path

import tomli_w

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.format.crypto import sealed_root_generation
from bulwark.agent.format.snapshot import decode_header
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import Site

PASS = {"BULWARK_PASSPHRASE": "correct horse battery staple"}


def _generation(site: Site, snapshot: str) -> int:
    with VaultClient.from_config(load_agent_config(site.operator_toml)) as client:
        header = decode_header(client.get_snapshot(snapshot).header)
    return sealed_root_generation(header.sealed_root)


def _config_with_key(site: Site, name: str, key_doc: dict) -> Path:
    """An operator configuration like operator.toml whose key file is ``key_doc``."""
    fd = os.open(site.dir / f"{name}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, tomli_w.dumps(key_doc).encode())
    os.close(fd)
    config = site.dir / f"{name}.toml"
    config.write_text(site.operator_toml.read_text().replace('"tenant.key"', f'"{name}.key"'))
    return config


def _restored(site: Site, snapshot: str, target: Path, data: Path, **kw) -> bytes:
    r = site.ctl("restore", snapshot, target, **kw)
    assert r.code == 0, r.err
    return (target / data.relative_to("/") / "w.bin").read_bytes()


def test_rotate_back_up_and_restore_every_generation(site: Site, tmp_path: Path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "w.bin").write_bytes(b"generation zero " * 1000)
    node_key = (site.dir / "node.key").read_bytes()
    before = tomllib.loads((site.dir / "tenant.key").read_text())
    s0 = site.backup(data)["snapshot"]
    assert _generation(site, s0) == 0

    rotated = site.ctl("keys", "rotate-restore", "--escrow", "tenant-g1", "--json", env=PASS)
    assert rotated.code == 0, rotated.err
    assert {k: rotated.json()[k] for k in ("generation", "held", "escrow")} == {
        "generation": 1, "held": [0, 1], "escrow": "tenant-g1"}
    (data / "w.bin").write_bytes(b"generation one " * 1000)
    s1 = site.backup(data)["snapshot"]
    assert _generation(site, s1) == 1  # learned from the vault, verified by the node
    assert (site.dir / "node.key").read_bytes() == node_key  # nothing was copied to the node
    node_doc = tomllib.loads(node_key.decode())
    assert not {"master", "restore_private", "restore_keys"} & set(node_doc)

    assert site.ctl("keys", "rotate-restore", "--json").code == 0  # generation 2
    (data / "w.bin").write_bytes(b"generation two " * 1000)
    s2 = site.backup(data)["snapshot"]
    assert _generation(site, s2) == 2
    # One operator key file restores snapshots sealed to every generation.
    for snapshot, text in ((s0, b"zero"), (s1, b"one"), (s2, b"two")):
        assert _restored(site, snapshot, tmp_path / f"r-{snapshot}", data).startswith(
            b"generation " + text)

    # The key file from before rotation lacks generation 1, and says so.
    old = _config_with_key(site, "old", before)
    refused = site.ctl("restore", s1, tmp_path / "old1", config=old)
    assert refused.code == 2, refused.err
    assert f"snapshot {s1}" in refused.err and "generation 1" in refused.err
    # A key file that lost generation 1 (but holds 0 and 2) names the one it lacks.
    lost = tomllib.loads((site.dir / "tenant.key").read_text())
    lost["restore_keys"] = [k for k in lost["restore_keys"] if k["generation"] != 1]
    lost_toml = _config_with_key(site, "lost", lost)
    refused = site.ctl("restore", s1, tmp_path / "lost1", config=lost_toml)
    assert refused.code == 2 and "holds generations 0, 2" in refused.err, refused.err
    assert not any((tmp_path / "lost1").rglob("*.bin"))

    # The escrow taken at the first rotation holds generations 0 and 1 (0 is the master's).
    assert site.ctl("keys", "recover", "--name", "tenant-g1", "--out", site.dir / "esc.key",
                    env=PASS).code == 0
    escrowed = tomllib.loads((site.dir / "esc.key").read_text())
    assert [k["generation"] for k in escrowed["restore_keys"]] == [1]
    esc = _config_with_key(site, "esc2", escrowed)
    assert _restored(site, s1, tmp_path / "e1", data, config=esc).startswith(b"generation one")

    listed = site.ctl("keys", "restore-keys", "--json")
    assert listed.code == 0, listed.err
    assert [(k["generation"], k["verified"], k["held"]) for k in listed.json()["published"]] \
        == [(1, True, True), (2, True, True)]
    audit = [json.loads(json.loads(line)["record"])
             for line in site.ctl("audit", "--json").out.splitlines() if line]
    assert [e["target"] for e in audit if e["action"] == "keys.restore.publish"] == [
        "generation:1", "generation:2"]


def test_rotation_refusals(site: Site, tmp_path: Path):
    node = site.ctl("keys", "rotate-restore", config=site.agent_toml)
    assert node.code == 2 and "only the tenant key file" in node.err, node.err
    unrotated = site.ctl("keys", "rotate-restore", "--publish-only")
    assert unrotated.code == 2 and "has not been rotated" in unrotated.err
    assert site.ctl("keys", "rotate-restore").code == 0
    again = site.ctl("keys", "rotate-restore", "--publish-only", "--json")  # idempotent
    assert again.code == 0 and again.json()["generation"] == 1
    # The same generation with another key: the vault keeps the first (write-once).
    doc = tomllib.loads((site.dir / "tenant.key").read_text())
    doc["restore_keys"][0]["private"] = doc["master"]
    swapped = _config_with_key(site, "swapped", doc)
    clash = site.ctl("keys", "rotate-restore", "--publish-only", config=swapped)
    assert clash.code == 2 and "already published" in clash.err, clash.err
    assert "--publish-only" in clash.err  # says how to finish
    help_text = site.ctl("keys", "rotate-restore", "--help")
    assert help_text.code == 0 and "example: vaultctl" in help_text.out
