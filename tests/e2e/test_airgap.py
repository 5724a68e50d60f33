"""The air-gap vault against a real primary: two real vaultd processes, each with its own CA,
the replica identity over mTLS, real stores. Windows are opened by hand (``sync --now``) or
by a seconds-granular schedule; tests/e2e/test_airgap_netns.py shows the gap itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

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
