"""Joined nodes' signing keys over real processes: restores derive every node's key from the
tenant key and never take one from the vault's registry (docs/threat-model.md "Joined
nodes", FORMAT.md "Joined nodes' signing keys").

The forger here owns the vault's host: it writes ``keys.sqlite`` with sqlite3 while vaultd
runs, so the vault itself accepts the snapshots it signs, and only the readers stand between
those snapshots and a restore.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess
import tomllib

import pytest

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.format.crypto import public_signing_key
from bulwark.agent.format.snapshot import decode_header
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import BIN, Site, free_port
from tests.e2e.forge import commit_raw_manifest, file_entry, upload
from tests.e2e.test_fleet import enroll, token
from tests.sealing import unseal_tree


@pytest.fixture(scope="module")
def trust(tmp_path_factory):
    base = tmp_path_factory.mktemp("trust")
    port, enroll_port = free_port(), free_port()
    init = subprocess.run([BIN / "vaultctl", "init", base / "site", "--port", str(port),
                           "--enroll-port", str(enroll_port), "--node", "seed"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    site = Site(base / "site", port)
    site.start()
    site.enroll_address = f"localhost:{enroll_port}"
    site.pin = site.ctl("pki", "fingerprint", site.dir, "--json").json()["ca_fingerprint"]
    yield site, base
    assert site.stop() == 0
    unseal_tree(base)


def operator_client(site: Site) -> VaultClient:
    return VaultClient.from_config(load_agent_config(site.operator_toml))


def operator_ring(site: Site):
    config = load_agent_config(site.operator_toml)
    return load_keyring(config.key_file, config.node)


def join_and_back_up(site: Site, base, name: str, tok: str, src) -> str:
    config = base / name / "agent.toml"
    joined = enroll(site, config, name, tok)
    assert joined.code == 0, joined.err
    done = site.agent("backup", src, "--json", config=config)
    assert done.code == 0, done.err
    return done.json()["snapshot"]


def put_in_registry(site: Site, node: str, public_key: bytes) -> None:
    """What root on the vault host can do: replace a node's enrolled key behind vaultd."""
    with sqlite3.connect(site.store / "keys.sqlite") as db:
        assert db.execute("UPDATE nodes SET public_key = ? WHERE name = ?",
                          (public_key, node)).rowcount == 1


def forge(site: Site, node: str, seed: bytes, joined=None) -> str:
    """A snapshot of ``node`` signed with ``seed``, committed through the vault's API (it
    accepts it: its registry now holds that key)."""
    ring = dataclasses.replace(operator_ring(site), node=node, signing_seed=seed)
    content = b"planted by whoever owns the vault host\n"
    with operator_client(site) as client:
        ref = upload(client, ring, content)
        return commit_raw_manifest(client, ring, [file_entry(b"evil.sh", ref, content)],
                                   [ref], joined)


def test_a_joined_nodes_snapshot_restores_and_verifies_with_the_operator_key(trust, tmp_path):
    from bulwark.agent.format.joined import JoinOrigin

    site, base = trust
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.bin").write_bytes(os.urandom(300_000))
    tok = token(site, "--prefix", "gpu-", "--ttl", "1h")
    snap = join_and_back_up(site, base, "gpu-a", tok["token"], src)

    restored = site.ctl("restore", snap, tmp_path / "r", "--json")
    assert restored.code == 0, restored.err
    assert (tmp_path / "r" / src.relative_to("/") / "w.bin").read_bytes() == \
        (src / "w.bin").read_bytes()
    verified = site.ctl("verify", snap, "--json")
    assert verified.code == 0 and verified.json()["ok"], verified.err

    origin = JoinOrigin(tok["id"], prefix="gpu-")
    key_file = tomllib.loads((base / "gpu-a" / "node.key").read_text())
    assert (key_file["join_token"], key_file["join_prefix"]) == (tok["id"], "gpu-")
    with operator_client(site) as client:
        header = decode_header(client.get_snapshot(snap).header)
        enrolled = client.enrolled_key("gpu-a")
    assert header.joined == origin
    # The tenant key alone derives the key the node signs with and the vault enrolled.
    assert operator_ring(site).signing_public_key("gpu-a", origin) == \
        header.node_public_key == enrolled


@pytest.mark.parametrize("kind", ["joined-node", "init-node"])
def test_a_key_put_in_the_registry_and_a_snapshot_signed_with_it_are_refused(trust, tmp_path,
                                                                             kind):
    site, base = trust
    src = tmp_path / "src"
    src.mkdir()
    (src / "data.bin").write_bytes(b"real data\n" * 1000)
    if kind == "joined-node":
        node = "gpu-f"
        real = join_and_back_up(site, base, node, token(site, "--name", node)["token"], src)
    else:
        node = "seed"  # made by vaultctl init: its key derives from the tenant key
        real = site.backup(src)["snapshot"]
    rogue = os.urandom(32)
    put_in_registry(site, node, public_signing_key(rogue))
    forged = forge(site, node, rogue)

    for action in (("restore", forged, tmp_path / "out"), ("verify", forged)):
        refused = site.ctl(*action)
        assert refused.code == 1, (action, refused.out, refused.err)
        assert (f"snapshot {forged}: not signed with the signing key of node '{node}'"
                in refused.err)
    assert not (tmp_path / "out").exists()  # nothing restored from it
    # The node's own snapshot still restores: no registry entry decides it either way.
    assert site.ctl("restore", real, tmp_path / "real").code == 0


def test_naming_a_real_join_token_does_not_lend_its_key_to_a_forger(trust):
    """The join token a header names is what the reader derives from; a forger who also
    owns the registry may name any token it likes and still has no key the tenant key
    derives for it."""
    from bulwark.agent.format.joined import JoinOrigin

    site, base = trust
    own = token(site, "--prefix", "gpu-h", "--ttl", "1h")
    assert enroll(site, base / "gpu-h1" / "agent.toml", "gpu-h1", own["token"]).code == 0
    other = token(site, "--name", "gpu-h1", "--ttl", "1h")  # made, never redeemed
    rogue = os.urandom(32)
    put_in_registry(site, "gpu-h1", public_signing_key(rogue))
    cases = {
        "its own token": (JoinOrigin(own["id"], prefix="gpu-h"), "gives it another"),
        "another real token": (JoinOrigin(other["id"], name="gpu-h1"), "gives it another"),
        "no token": (None, "the header names no join token"),
        "a token for another name": (JoinOrigin(own["id"], name="gpu-h2"),
                                     "which does not cover node 'gpu-h1'"),
    }
    for case, (joined, words) in cases.items():
        forged = forge(site, "gpu-h1", rogue, joined)
        refused = site.ctl("verify", forged)
        assert refused.code == 1, case
        assert forged in refused.err and words in refused.err, (case, refused.err)
