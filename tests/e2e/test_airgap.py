"""The air-gap vault against a real primary: two real vaultd processes, each with its own CA,
the replica identity over mTLS, real stores. Windows are opened by hand (``sync --now``) or
by a seconds-granular schedule; tests/e2e/test_airgap_netns.py shows the gap itself."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import grpc
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bulwark.protos.bulwark.v1 import vault_pb2
from bulwark.protos.contract import SNAPSHOT_SIGNATURE_CONTEXT, chunk_ids_digest
from bulwark.vault.catalog.db import Catalog, SnapshotRecord, snapshot_id
from bulwark.vault.worm.retention import Retention
from tests.e2e.airgap_site import make_airgap, sync
from tests.e2e.conftest import tls_channel
from tests.e2e.treeutil import snapshot_tree
from tests.sealing import unseal


def tree(root: Path, files: int, size: int, seed: int) -> Path:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"f{i:03d}.bin").write_bytes(seed.to_bytes(4, "little") + os.urandom(size))
    return root


def restored(target: Path, source: Path) -> Path:
    return target / source.relative_to(source.anchor)


def audit(s, config=None) -> list[dict]:
    result = s.ctl("audit", "--json", config=config)
    assert result.code == 0, result.err
    return [json.loads(json.loads(line)["record"]) for line in result.out.splitlines()]


def snapshot_ids(s) -> list[str]:
    result = s.ctl("snapshots", "--json")
    assert result.code == 0, result.err
    return [r["id"] for r in result.json()]


def blob_path(s, chunk_id: bytes) -> Path:
    h = chunk_id.hex()
    return s.store / "data" / h[:2] / h[2:4] / h


@pytest.fixture
def airgap(site, tmp_path):
    ag = make_airgap(site, tmp_path / "airgap")
    ag.start()
    yield ag
    if ag.proc is not None:
        assert ag.stop() == 0


def test_copy_restore_drill_then_the_ransomware_day(site, airgap, tmp_path):
    a = tree(tmp_path / "data-a", 3, 400_000, 1)
    b = tree(tmp_path / "data-b", 2, 300_000, 2)
    expected = {a: snapshot_tree(a), b: snapshot_tree(b)}
    first, second = site.backup(a)["snapshot"], site.backup(b)["snapshot"]

    # The primary's CA issues nothing the air-gap listener accepts.
    with tls_channel(site.dir, f"127.0.0.1:{airgap.port}") as ch, pytest.raises(grpc.RpcError):
        health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5)

    result = sync(airgap)
    assert result.code == 0, result.err + result.out
    window = result.json()
    assert window["outcome"] == "complete" and window["snapshots"] == 2 and not window["refused"]
    assert snapshot_ids(airgap) == [first, second]  # same ids, same order
    again = sync(airgap).json()
    assert again["snapshots"] == 0 and again["chunks"] == 0  # nothing is copied twice

    status = airgap.ctl("airgap", "status", "--json")
    assert status.code == 0, status.err
    s = status.json()
    assert s["cursor"]["snapshot"] == second and s["pinned_nodes"] == 1 and s["lag_s"] == 0
    assert s["last"]["outcome"] == "complete" and s["last_success_ns"] > 0

    # The air-gap vault is a full vault for its own operators: compliance retention,
    # verify, drill.
    listed = airgap.ctl("snapshots", "--json").json()
    assert {r["retention"]["mode"] for r in listed} == {"compliance"}
    assert airgap.ctl("verify", first).code == 0
    drill = airgap.ctl("drill", first, "--json", config=airgap.role_toml("drill"))
    assert drill.code == 0, drill.err
    ag_officer = airgap.role_toml("officer")
    assert airgap.ctl("hold", "set", second, "--reason", "case 7", config=ag_officer).code == 0
    assert airgap.ctl("retention", "extend", first, "--days", "400").code == 0
    locked = airgap.ctl("delete", first, "--bypass-governance", config=ag_officer)
    assert locked.code == 1 and "compliance" in locked.err  # its own policy decides
    assert airgap.ctl("prune", "--dry-run", "--json").code == 0

    # The ransomware day on the primary: delete, shorten, prune, corrupt, then wipe it all.
    officer = site.role_toml("officer")
    assert site.ctl("delete", first, "--bypass-governance", config=officer).code == 0
    shorten = site.ctl("retention", "extend", second, "--days", "0", "--bypass-governance",
                       config=officer)
    assert shorten.code == 0, shorten.err
    assert site.ctl("delete", second, "--bypass-governance", config=officer).code == 0
    assert site.ctl("prune", "--yes").code == 0
    for blob in (site.store / "data").rglob("*"):
        if blob.is_file():
            unseal(blob)
            blob.chmod(0o644)
            blob.write_bytes(b"ransom")
    assert site.stop() == 0
    for path in site.store.iterdir():
        if path.is_file() and path.name.startswith("catalog.sqlite"):
            path.unlink()
    failed = sync(airgap)  # the primary is gone: the window fails, nothing changes
    assert failed.code == 1 and failed.json()["outcome"] == "failed"

    assert snapshot_ids(airgap) == [first, second]
    for ref, source in ((first, a), (second, b)):
        target = tmp_path / f"r-{ref[:8]}"
        r = airgap.ctl("restore", ref, target, "--json")
        assert r.code == 0, r.err
        assert snapshot_tree(restored(target, source)) == expected[source]
    assert airgap.ctl("audit", "verify").code == 0
    actions = [e["action"] for e in audit(airgap)]
    assert {"airgap.window.open", "airgap.window.close", "airgap.copy", "airgap.pin"} \
        <= set(actions)


def chunk_ids(s, snapshot: str | None = None, other: bool = False) -> set[bytes]:
    """Chunk ids the primary's catalog lists for ``snapshot`` (or every other snapshot)."""
    with sqlite3.connect(s.store / "catalog.sqlite") as db:
        op = "!=" if other else "="
        rows = db.execute(f"SELECT chunk_id FROM snapshot_chunks WHERE snapshot_id {op} ?",
                          (snapshot,)).fetchall()
    return {bytes(r[0]) for r in rows}


def forge(s, like: str) -> tuple[str, bytes]:
    """What a compromised primary could do: a snapshot for ``like``'s node, signed with a new
    key, put straight into its catalog. Returns its id and the new public key."""
    catalog = Catalog(s.store / "catalog.sqlite")
    try:
        template = catalog.resolve(like)
        ids = catalog.snapshot_chunk_ids(like)
        key = Ed25519PrivateKey.generate()
        public = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        raw = vault_pb2.SnapshotHeader(
            format_version=1, node=template.node, hostname="forged", paths=["/forged"],
            files=1, bytes=1, sealed_root=b"\0" * 64, chunk_count=len(ids),
            chunk_ids_digest=chunk_ids_digest(ids), node_public_key=public,
        ).SerializeToString()
        signature = key.sign(SNAPSHOT_SIGNATURE_CONTEXT + raw)
        t = template.time_ns + 1_000
        catalog.commit_snapshot(SnapshotRecord(
            snapshot_id(raw, signature, t), t, template.node, raw, signature, (), ("/forged",),
            1, 1, len(ids), Retention("governance", t + 10**15)), ids)
    finally:
        catalog.close()
    return snapshot_id(raw, signature, t), public


def report_key(s, node: str, public: bytes) -> None:
    """Make the primary's key registry report ``public`` for ``node``."""
    with sqlite3.connect(s.store / "keys.sqlite") as db:
        db.execute("UPDATE nodes SET public_key = ? WHERE name = ?", (public, node))


def test_tampered_blob_and_forged_snapshot_are_refused_the_rest_is_copied(site, airgap,
                                                                          tmp_path):
    base = site.backup(tree(tmp_path / "base", 1, 100_000, 3))["snapshot"]
    assert sync(airgap).json()["snapshots"] == 1  # first sight: the node's key is pinned
    tampered = site.backup(tree(tmp_path / "t", 2, 300_000, 4))["snapshot"]
    good = site.backup(tree(tmp_path / "g", 2, 300_000, 5))["snapshot"]
    victim = sorted(chunk_ids(site, tampered) - chunk_ids(site, tampered, other=True))[0]
    path = blob_path(site, victim)
    unseal(path)
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))
    forged, forged_key = forge(site, good)

    result = sync(airgap)
    assert result.code == 1, result.out  # refusals are a data problem
    window = result.json()
    assert window["outcome"] == "complete" and window["snapshots"] == 1, json.dumps(window)
    reasons = {r["snapshot"]: r["reason"] for r in window["refused"]}
    assert set(reasons) == {tampered, forged}
    assert victim.hex() in reasons[tampered] and "not the key enrolled" in reasons[forged]
    assert snapshot_ids(airgap) == [base, good]  # refused ones are not committed
    entries = audit(airgap)
    assert {e["target"] for e in entries
            if e["action"] == "airgap.copy" and e["outcome"] == "refused"} == {tampered, forged}
    assert airgap.ctl("airgap", "status").code == 1  # the last window refused snapshots

    # The primary now reports the forger's key for the node: the pin holds, and from now on
    # nothing is copied under that node's name from this primary (refused, audited, alerted).
    node = airgap.ctl("snapshots", "--json").json()[0]["node"]
    later = site.backup(tree(tmp_path / "later", 1, 100_000, 7))["snapshot"]
    report_key(site, node, forged_key)
    window = sync(airgap).json()
    assert window["snapshots"] == 0 and [r["snapshot"] for r in window["refused"]] == [later]
    assert "pinned" in window["refused"][0]["reason"]
    assert any(e["action"] == "airgap.pin" and e["outcome"] == "refused" for e in audit(airgap))
    assert snapshot_ids(airgap) == [base, good]


def test_a_window_cut_mid_transfer_resumes_without_copying_twice(site, tmp_path):
    source = tree(tmp_path / "big", 4, 2_500_000, 6)  # ~10 MB that does not compress
    expected = snapshot_tree(source)
    snap = site.backup(source)["snapshot"]
    with sqlite3.connect(site.store / "catalog.sqlite") as db:
        chunks, stored = db.execute("SELECT count(*), sum(size) FROM chunks").fetchone()
    ag = make_airgap(site, tmp_path / "airgap", max_mib_per_s=2)
    ag.start()
    try:
        cut = sync(ag, "--seconds", "2")
        assert cut.code == 1, cut.err
        first = cut.json()
        assert first["outcome"] == "cut" and first["snapshots"] == 0 and first["pending"] == 1
        assert 0 < first["bytes"] < stored and first["lag_s"] > 0
        assert snapshot_ids(ag) == []  # nothing half-committed
        rest = sync(ag, "--seconds", "120")
        assert rest.code == 0, rest.err
        second = rest.json()
        assert second["outcome"] == "complete" and second["snapshots"] == 1
        assert first["chunks"] + second["chunks"] == chunks  # no chunk pulled twice
        assert first["bytes"] + second["bytes"] == stored
        r = ag.ctl("restore", snap, tmp_path / "r", "--json")
        assert r.code == 0, r.err
        assert snapshot_tree(restored(tmp_path / "r", source)) == expected
    finally:
        assert ag.stop() == 0
