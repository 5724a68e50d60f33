"""Deduplication is verifiable (issue 12, FORMAT.md "Deduplication is verifiable"): one
node cannot spoil another node's backups by uploading first under the ids the other will
deduplicate on, and nodes of one tenant still store shared data once.

Real vaultd, real mTLS, two and then eight enrolled nodes, each with its own write-only
key file (which holds the tenant-wide id key: the attacker knows every id it can compute).
"""

from __future__ import annotations

import filecmp
import os
import subprocess

import pytest

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import VaultError
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.chunker import chunk_bytes
from bulwark.agent.format.crypto import chunk_id_and_key
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import BIN, Site, free_port
from tests.e2e.treeutil import make_tree


def issue_nodes(site_dir, names) -> None:
    for name in names:
        done = subprocess.run([BIN / "vaultctl", "pki", "issue", site_dir, "--role", "node",
                               "--name", name], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr


@pytest.fixture
def fleet(tmp_path):
    port = free_port()
    directory = tmp_path / "site"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port),
                           "--node", "victim"], capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    issue_nodes(directory, ["attacker"] + [f"gpu-{i}" for i in range(7)])
    s = Site(directory, port)
    s.start()
    yield s
    if s.proc is not None:
        assert s.stop() == 0


def stored_bytes(site: Site) -> int:
    return sum(p.stat().st_size for p in site.store.rglob("*") if p.is_file())


def test_attacker_uploading_first_cannot_spoil_the_victims_backup(fleet, tmp_path):
    """The attacker computes what the victim will upload (it holds the same id key and the
    public base model) and tries every way to store junk under those ids first."""
    model = tmp_path / "model"
    make_tree(model)
    attacker_toml = fleet.dir / "node-attacker.toml"
    config = load_agent_config(attacker_toml)
    ring = load_keyring(config.key_file, config.node)
    files = sorted(p for p in model.rglob("*") if p.is_file())
    with VaultClient.from_config(config) as client:
        for path in files:
            for piece in chunk_bytes(path.read_bytes()):
                honest = seal_chunk(ring.id_key, piece.data)
                v1_id, _ = chunk_id_and_key(ring.id_key, piece.data)
                junk = os.urandom(len(honest.blob))
                # junk under the v2 id, and junk under the v1 (keyed) id: both refused
                for cid in (honest.chunk_id, v1_id):
                    with pytest.raises(VaultError, match="not the BLAKE3|format-v1"):
                        client.put_blobs([[(cid, junk, cid)]])
        # the only thing the attacker can store under the honest id is the honest blob
        first = seal_chunk(ring.id_key, next(chunk_bytes(files[0].read_bytes())).data)
        client.put_blobs([[(first.chunk_id, first.blob, first.chunk_id)]])

    backup = fleet.backup(model)
    restored = tmp_path / "restored"
    result = fleet.ctl("restore", backup["snapshot"], restored, "--json")
    assert result.code == 0, result.err
    for path in files:
        assert filecmp.cmp(path, restored / path.relative_to("/"), shallow=False), path
    verify = fleet.ctl("verify", backup["snapshot"], "--json")
    assert verify.code == 0, verify.err
    assert verify.json()["ok"] is True and verify.json()["damaged"] == []


def test_eight_nodes_with_the_same_model_store_it_once(fleet, tmp_path):
    model = tmp_path / "model"
    make_tree(model)
    size = sum(p.stat().st_size for p in model.rglob("*") if p.is_file())
    fleet.backup(model)
    after_one = stored_bytes(fleet)
    for i in range(7):
        result = fleet.agent("backup", model, "--json", config=fleet.dir / f"node-gpu-{i}.toml")
        assert result.code == 0, result.err
        assert result.json()["new_chunks"] <= 1  # its own manifest at most: no data chunk
    after_eight = stored_bytes(fleet)
    # Each further node adds its manifest (a few kB), never the model again.
    assert after_eight - after_one < 7 * 64 * 1024 < size
    assert len(fleet.ctl("snapshots", "--json").json()) == 8
