"""Issue #4 end to end: write-only nodes, node isolation, signed records bound to enrolled
keys, key escrow and paper recovery, refusals as exit codes. One site per module."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import subprocess

import grpc
import pytest

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.format.crypto import open_root, public_signing_key, sign_header
from bulwark.agent.format.snapshot import decode_header, encode_header
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site.config import load_agent_config
from bulwark.protos.bulwark.v1 import vault_pb2, vault_pb2_grpc
from tests.e2e.conftest import BIN, Site, free_port
from tests.e2e.treeutil import make_tree

PASS = {"BULWARK_PASSPHRASE": "correct horse battery staple"}


@pytest.fixture(scope="module")
def sec(tmp_path_factory):
    base = tmp_path_factory.mktemp("security")
    port = free_port()
    directory = base / "site"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", str(port),
                           "--node", "gpu-a"], capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    issued = subprocess.run([BIN / "vaultctl", "pki", "issue", directory, "--role", "node",
                             "--name", "gpu-b"], capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    s = Site(directory, port)
    s.start()
    shared = base / "shared"
    make_tree(shared)
    (base / "a-only").mkdir()
    (base / "a-only" / "secret.bin").write_bytes(b"A's own data " * 5000)
    s.snap_a = s.backup(shared, base / "a-only")
    s.base = base
    yield s
    if s.proc is not None:
        assert s.stop() == 0


def client_for(site: Site, config_name: str) -> VaultClient:
    return VaultClient.from_config(load_agent_config(site.dir / config_name))


def test_write_only_node_cannot_restore_but_operator_and_drill_can(sec, tmp_path):
    stolen = sec.ctl("restore", sec.snap_a["snapshot"], tmp_path / "stolen",
                     config=sec.agent_toml)
    assert stolen.code == 2 and "write-only" in stolen.err and "operator.toml" in stolen.err
    assert not (tmp_path / "stolen").exists() or not any((tmp_path / "stolen").rglob("*.bin"))
    # The node's key material alone cannot open the sealed root of an earlier snapshot.
    config = load_agent_config(sec.agent_toml)
    ring = load_keyring(config.key_file, config.node)
    with client_for(sec, "agent.toml") as c:
        header = decode_header(c.get_snapshot(sec.snap_a["snapshot"]).header)
    with pytest.raises(KeyMaterialError, match="write-only"):
        open_root(ring.restore_private, header.sealed_root)
    for role in ("operator.toml", "drill.toml"):
        ok = sec.ctl("restore", sec.snap_a["snapshot"], tmp_path / role, config=sec.dir / role)
        assert ok.code == 0, ok.err


def test_node_isolation_lists_reads_and_chunks(sec):
    b_toml = sec.dir / "node-gpu-b.toml"
    b = sec.agent("backup", sec.base / "shared", "--json", config=b_toml)
    assert b.code == 0, b.err
    # Cross-node dedup inside the tenant: B's copy of the shared tree stores nothing new
    # except its own manifest.
    assert b.json()["new_chunks"] <= 2, b.json()  # type: ignore[index]
    a_list = sec.ctl("snapshots", "--json", config=sec.agent_toml).json()
    b_list = sec.ctl("snapshots", "--json", config=b_toml).json()
    assert {s["node"] for s in a_list} == {"gpu-a"}  # type: ignore[union-attr]
    assert {s["node"] for s in b_list} == {"gpu-b"}  # type: ignore[union-attr]
    assert {s["node"] for s in sec.ctl("snapshots", "--json").json()} == {"gpu-a", "gpu-b"}
    asked = sec.ctl("snapshots", "--node", "gpu-a", config=b_toml)
    assert asked.code == 2 and "own snapshots" in asked.err
    missing = sec.ctl("verify", sec.snap_a["snapshot"], config=b_toml)
    assert missing.code == 1 and "no snapshot of node 'gpu-b'" in missing.err
    # B cannot fetch a chunk only A's snapshots reference, even knowing its id.
    with client_for(sec, "operator.toml") as op:
        a_ids = set(_snapshot_chunks(sec, sec.snap_a["snapshot"]))
        b_snap = b.json()["snapshot"]  # type: ignore[index]
        a_only = sorted(a_ids - set(_snapshot_chunks(sec, b_snap)))
        assert a_only and len(list(op.get_chunks(a_only[:1]))) == 1
    config = load_agent_config(b_toml)
    with grpc.secure_channel(config.vault_address, _creds(config)) as ch:
        stub = vault_pb2_grpc.VaultStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            list(stub.GetChunks(vault_pb2.GetChunksRequest(chunk_ids=a_only[:1]), timeout=10))
        assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_node_cannot_commit_as_another_node_or_with_an_unenrolled_key(sec):
    config = load_agent_config(sec.dir / "node-gpu-b.toml")
    ring = load_keyring(config.key_file, config.node)
    with client_for(sec, "agent.toml") as c:
        info = c.get_snapshot(sec.snap_a["snapshot"])
    header = decode_header(info.header)
    forged = encode_header(_replace(header, ring))
    with client_for(sec, "node-gpu-b.toml") as b:
        with pytest.raises(Exception, match="may not commit a snapshot for node 'gpu-a'"):
            b.commit(forged, sign_header(ring.signing_seed, forged), [])
        # As itself, but signing with a fresh key the vault never enrolled.
        rogue_seed = os.urandom(32)
        own = encode_header(dataclasses.replace(
            header, node="gpu-b", node_public_key=public_signing_key(rogue_seed)))
        with pytest.raises(Exception, match="not the key enrolled for node 'gpu-b'"):
            b.commit(own, sign_header(rogue_seed, own), [])


def test_altered_record_at_rest_is_detected_and_named(sec, tmp_path):
    snap = sec.backup(sec.base / "a-only")["snapshot"]
    db = sqlite3.connect(sec.store / "catalog.sqlite")
    (raw,) = db.execute("SELECT header FROM snapshots WHERE id = ?", (snap,)).fetchone()
    header = decode_header(raw)
    altered = encode_header(_replace(header, None, files=header.files + 1))
    with db:
        db.execute("UPDATE snapshots SET header = ?, files = files + 1 WHERE id = ?",
                   (altered, snap))
    db.close()
    for action in (("verify", snap), ("restore", snap, tmp_path / "r")):
        result = sec.ctl(*action)
        assert result.code == 1, result
        assert snap in result.err and "altered" in result.err


def test_escrow_recovers_a_lost_node_key_and_wrong_passphrase_is_exit_2(sec, tmp_path):
    put = sec.ctl("keys", "escrow", "--name", "node-gpu-a", "--key-file",
                  sec.dir / "node.key", env=PASS)
    assert put.code == 0, put.err
    again = sec.ctl("keys", "escrow", "--name", "node-gpu-a", "--key-file",
                    sec.dir / "node.key", env=PASS)
    assert again.code == 2 and "write-once" in again.err
    (sec.dir / "node.key").unlink()  # the node is lost
    lost = sec.agent("backup", sec.base / "a-only", config=sec.agent_toml)
    assert lost.code == 2 and "does not exist" in lost.err
    wrong = sec.ctl("keys", "recover", "--name", "node-gpu-a", "--out", sec.dir / "node.key",
                    env={"BULWARK_PASSPHRASE": "wrong passphrase"})
    assert wrong.code == 2 and "wrong passphrase" in wrong.err
    assert not (sec.dir / "node.key").exists()
    ok = sec.ctl("keys", "recover", "--name", "node-gpu-a", "--out", sec.dir / "node.key",
                 env=PASS)
    assert ok.code == 0, ok.err
    (sec.base / "a-only" / "new.bin").write_bytes(b"after recovery")
    snap = sec.backup(sec.base / "a-only")["snapshot"]
    restored = sec.ctl("restore", snap, tmp_path / "r")
    assert restored.code == 0, restored.err
    assert (tmp_path / "r").joinpath(*(sec.base / "a-only" / "new.bin").parts[1:]).read_bytes() \
        == b"after recovery"


def test_paper_sheet_round_trips_and_catches_typos(sec, tmp_path):
    sheet = sec.ctl("keys", "export", "--paper")
    assert sheet.code == 0 and "RECOVERY SHEET" in sheet.out
    path = tmp_path / "sheet.txt"
    path.write_text(sheet.out)
    ok = sec.ctl("keys", "import", "--paper", path, "--out", tmp_path / "tenant.key")
    assert ok.code == 0, ok.err
    assert (tmp_path / "tenant.key").read_bytes() == (sec.dir / "tenant.key").read_bytes()
    lines = sheet.out.splitlines()
    i = next(n for n, line in enumerate(lines) if line.startswith("002"))
    lines[i] = lines[i][:5] + ("A" if lines[i][5] != "A" else "B") + lines[i][6:]
    path.write_text("\n".join(lines))
    bad = sec.ctl("keys", "import", "--paper", path, "--out", tmp_path / "t2.key")
    assert bad.code == 2 and "line 002" in bad.err


def _replace(header, ring, **fields):
    if ring is not None:
        fields["node_public_key"] = public_signing_key(ring.signing_seed)
    return dataclasses.replace(header, **fields)


def _creds(config) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(config.tls.ca.read_bytes(), config.tls.key.read_bytes(),
                                        config.tls.cert.read_bytes())


def _snapshot_chunks(site: Site, snap: str) -> list[bytes]:
    db = sqlite3.connect(site.store / "catalog.sqlite")
    try:
        rows = db.execute("SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id = ?", (snap,))
        return [bytes(r[0]) for r in rows]
    finally:
        db.close()
