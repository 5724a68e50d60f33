"""WORM retention against a real vaultd over mTLS: role rules and their audit entries, the
compliance clock under a faked wall clock, and kill -9 during prune and during uploads."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, wait_healthy


def small_tree(root: Path, files: int = 3, size: int = 50_000, seed: int = 0) -> Path:
    root.mkdir(parents=True)
    for i in range(files):
        (root / f"f{i:05d}.bin").write_bytes(seed.to_bytes(4, "little") + os.urandom(size))
    return root


def configure(site, **retention) -> None:
    """Restart vaultd with ``[retention]`` set."""
    if site.proc is not None:
        assert site.stop() == 0
    toml = site.dir / "vault.toml"
    text = toml.read_text().split("\n[retention]\n")[0]
    if retention:
        lines = [f"{k} = {json.dumps(v)}" for k, v in retention.items()]
        text = text.rstrip("\n") + "\n\n[retention]\n" + "\n".join(lines) + "\n"
    toml.write_text(text)
    start(site)


def libfaketime() -> Path:
    """Debian's libfaketime (apt package faketime, installed by .ci/run), any architecture."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    assert found, "libfaketime not found: install Debian's faketime package (.ci/run does)"
    return found[0]


def start(site, fake_offset: str = "") -> None:
    """Start vaultd; with ``fake_offset`` (e.g. ``+400d``) under libfaketime, preloaded
    directly so that signals reach vaultd itself (the ``faketime`` wrapper forks)."""
    env = dict(os.environ)
    if fake_offset:
        env |= {"LD_PRELOAD": str(libfaketime()), "FAKETIME": fake_offset,
                "FAKETIME_NO_CACHE": "1"}
    site.proc = subprocess.Popen(
        [str(BIN / "vaultd"), "--config", str(site.dir / "vault.toml")],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    wait_healthy(f"127.0.0.1:{site.port}", site.proc, site_dir=site.dir)


def officer(site, *args):
    return site.ctl(*args, config=site.role_toml("officer"))


def audit(site) -> list[dict]:
    result = site.ctl("audit", "--json")
    assert result.code == 0, result.err
    return [json.loads(json.loads(line)["record"]) for line in result.out.splitlines()]


def last(site, action: str) -> dict:
    return [e for e in audit(site) if e["action"] == action][-1]


def refused(result, *phrases: str, code: int = 1) -> str:
    """A WORM rule's refusal exits 1; the authorization table's (a role that may not call
    the RPC at all) exits 2, as every PERMISSION_DENIED does (agent/client/status.py)."""
    assert result.code == code, (result.code, result.out, result.err)
    for phrase in phrases:
        assert phrase in result.err, result.err
    return result.err


@pytest.mark.parametrize("site", ["fs", "s3"], indirect=True)  # issue 17
def test_governance_rules_roles_and_audit_trail(site, tmp_path):
    sid = site.backup(small_tree(tmp_path / "src"))["snapshot"]
    shown = site.ctl("retention", "show", sid, "--json").json()
    assert (shown["mode"], shown["expired"], shown["legal_hold"]) == ("governance", False, False)
    listed = site.ctl("snapshots", "--json").json()
    assert listed[0]["retention"]["mode"] == "governance"

    refused(site.ctl("delete", sid), "governance mode until",
            "only the security officer with --bypass-governance")
    assert last(site, "snapshot.delete")["outcome"] == "refused"
    refused(officer(site, "delete", sid), "bypass flag was not given")
    refused(site.ctl("hold", "set", sid, "--reason", "x"), "may not call", code=2)  # authz
    assert officer(site, "hold", "set", sid, "--reason", "case 42").code == 0
    assert last(site, "hold.set")["detail"] == "case 42"
    refused(officer(site, "delete", sid, "--bypass-governance"), "legal hold (case 42)")
    assert "HOLD" in site.ctl("snapshots").out
    assert officer(site, "hold", "clear", sid).code == 0

    extended = site.ctl("retention", "extend", sid, "--days", "90", "--json")
    assert extended.code == 0, extended.err
    assert last(site, "retention.extend")["role"] == "operator"
    soon = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused(site.ctl("retention", "extend", sid, "--until", soon, "--bypass-governance"),
            "only the security officer")
    shortened = officer(site, "retention", "extend", sid, "--until", soon,
                        "--bypass-governance")
    assert shortened.code == 0, shortened.err
    assert last(site, "retention.shorten")["actor"] != ""
    deleted = officer(site, "delete", sid, "--bypass-governance", "--json")
    assert deleted.code == 0 and deleted.json() == {"deleted": sid}
    entry = last(site, "snapshot.delete")
    assert (entry["outcome"], entry["role"]) == ("allowed", "officer")
    assert "governance bypass" in entry["detail"]

    verify = site.ctl("audit", "verify")
    assert verify.code == 0 and "audit chain OK" in verify.out, verify.err
    export = tmp_path / "audit.jsonl"
    export.write_text(site.ctl("audit", "--json").out)
    offline = subprocess.run([BIN / "vaultctl", "audit", "verify", "--file", export, "--json"],
                             capture_output=True, text=True, timeout=60)
    assert offline.returncode == 0 and offline.stdout and json.loads(offline.stdout)["ok"]
    lines = export.read_text().splitlines()
    forged = json.loads(lines[2])
    forged["record"] = forged["record"].replace('"refused"', '"allowed"')
    lines[2] = json.dumps(forged)
    export.write_text("\n".join(lines) + "\n")
    broken = subprocess.run([BIN / "vaultctl", "audit", "verify", "--file", export],
                            capture_output=True, text=True, timeout=60)
    assert broken.returncode == 1 and "BROKEN at seq 3" in broken.stderr


def test_compliance_lock_survives_a_wall_clock_400_days_ahead(site, tmp_path):
    configure(site, mode="compliance", default_days=30, minimum_days=1, lease_hours=0)
    sid = site.backup(small_tree(tmp_path / "src"))["snapshot"]
    refused(officer(site, "delete", sid, "--bypass-governance"),
            f"snapshot {sid[:12]}", "locked in compliance mode until",
            "nobody can delete it before then")
    past = (datetime.now(UTC) + timedelta(days=1)).date().isoformat()
    refused(officer(site, "retention", "extend", sid, "--until", past, "--bypass-governance"),
            "never shortened")
    # The wall clock moves 400 days ahead while vaultd is stopped (libfaketime).
    assert site.stop() == 0
    start(site, "+400d")
    refused(site.ctl("delete", sid), "locked in compliance mode")
    pruned = site.ctl("prune", "--yes", "--json")
    assert pruned.code == 0, pruned.err
    assert pruned.json()["snapshots"] == [] and pruned.json()["chunks"] == 0
    assert site.ctl("retention", "show", sid, "--json").json()["expired"] is False
    jump = last(site, "clock.jump")
    assert jump["outcome"] == "refused" and "+400" in jump["detail"]
    assert last(site, "clock.resume")["outcome"] == "allowed"
    assert site.ctl("audit", "verify").code == 0
    assert site.ctl("verify", sid).code == 0  # the data is all there


def catalog_and_store_agree(site) -> tuple[int, int]:
    """Every chunk row has its blob; every referenced chunk has a row. Returns counts."""
    db = sqlite3.connect(f"file:{site.store / 'catalog.sqlite'}?mode=ro", uri=True)
    try:
        rows = [bytes(r[0]).hex() for r in db.execute("SELECT id FROM chunks")]
        dangling = db.execute(
            "SELECT count(*) FROM snapshot_chunks sc LEFT JOIN chunks c ON c.id = sc.chunk_id"
            " WHERE c.id IS NULL").fetchone()[0]
        snapshots = db.execute("SELECT count(*) FROM snapshots").fetchone()[0]
    finally:
        db.close()
    missing = [h for h in rows if not (site.store / "data" / h[:2] / h[2:4] / h).is_file()]
    assert missing == [] and dangling == 0
    return len(rows), snapshots


def kill9(site) -> None:
    site.proc.send_signal(signal.SIGKILL)
    site.proc.wait(timeout=20)
    site.proc.communicate()
    site.proc = None


def test_kill_9_during_prune_and_during_upload(site, tmp_path):
    configure(site, mode="compliance", default_days=30, minimum_days=0, lease_hours=0)
    locked = site.backup(small_tree(tmp_path / "locked", files=5, seed=1))["snapshot"]
    configure(site, mode="governance", default_days=0, minimum_days=0, lease_hours=0)
    site.backup(small_tree(tmp_path / "many", files=1500, size=2_000, seed=2))

    # kill -9 while a prune over ~1500 chunks runs
    prune = subprocess.Popen([BIN / "vaultctl", "--config", site.operator_toml, "prune",
                              "--yes"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    blobs = sum(1 for _ in (site.store / "data").rglob("*"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and prune.poll() is None:
        if sum(1 for _ in (site.store / "data").rglob("*")) < blobs - 50:
            break
        time.sleep(0.02)
    kill9(site)
    prune.communicate(timeout=30)
    start(site)
    catalog_and_store_agree(site)

    # kill -9 while a backup uploads and commits
    backup = subprocess.Popen([BIN / "vault-agent", "--config", site.agent_toml, "backup",
                               small_tree(tmp_path / "more", files=1500, size=2_000, seed=3)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    kill9(site)
    backup.communicate(timeout=60)
    start(site)
    catalog_and_store_agree(site)

    assert site.ctl("audit", "verify").code == 0
    assert site.ctl("verify", locked).code == 0  # locked data intact
    done = site.ctl("prune", "--yes", "--json")
    assert done.code == 0, done.err
    chunks, snapshots = catalog_and_store_agree(site)
    assert snapshots == 1 and site.ctl("verify", locked).code == 0
    stored = [p for p in (site.store / "data").rglob("*") if p.is_file()]
    assert len(stored) == chunks  # garbage from both crashes is gone


def test_a_chunk_put_before_a_vaultd_restart_survives_prune_until_its_commit(site, tmp_path):
    """Upload leases live in vaultd's memory; a restart loses them, so the new process
    leases every chunk it holds for lease_hours (docs/worm.md, "Leases"). A node puts a
    chunk, vaultd is killed and restarted, prune runs, and the node's commit still finds
    the chunk; an expired snapshot is deleted meanwhile, its chunks kept by the same rule."""
    from bulwark.agent.client.vault import VaultClient
    from bulwark.agent.keys.keyfile import load_keyring
    from bulwark.agent.site.config import load_agent_config
    from tests.e2e.forge import commit_raw_manifest, file_entry, upload

    configure(site, mode="governance", default_days=0, minimum_days=0, lease_hours=1)
    expired = site.backup(small_tree(tmp_path / "old", files=2, seed=4))["snapshot"]
    config = load_agent_config(site.agent_toml)
    ring = load_keyring(config.key_file, config.node)
    content = os.urandom(5_000)
    with VaultClient.from_config(config) as node:
        ref = upload(node, ring, content)  # put, not committed yet
    first = json.loads(site.ctl("prune", "--yes", "--json").out)
    assert first["snapshots"] == [expired] and first["chunks"] == 0  # leased in memory
    kill9(site)
    start(site)
    again = site.ctl("prune", "--yes", "--json")
    assert again.code == 0, again.err
    assert json.loads(again.out)["chunks"] == 0  # the restart's floor: every chunk leased
    with VaultClient.from_config(config) as node:
        sid = commit_raw_manifest(node, ring, [file_entry(b"data/late.bin", ref, content)],
                                  [ref])
    assert site.ctl("verify", sid).code == 0


def test_node_may_ask_for_longer_retention_never_shorter(site, tmp_path):
    configure(site, mode="governance", default_days=30, minimum_days=7)
    day_ns = 86_400 * 10**9

    def retention_days(*flags: str) -> float:
        result = site.agent("backup", small_tree(tmp_path / f"s{'-'.join(flags) or 'none'}"),
                            "--json", *flags)
        assert result.code == 0, result.err
        snapshot = result.json()
        shown = site.ctl("retention", "show", snapshot["snapshot"], "--json").json()
        return (shown["retain_until_ns"] - snapshot["time_ns"]) / day_ns

    assert retention_days() == 30                                # the vault's default
    assert retention_days("--retention-days", "90") == 90        # a node may lengthen
    assert retention_days("--retention-days", "3") == 30         # never below the policy
    bad = site.agent("backup", tmp_path, "--retention-days", "-1")
    assert bad.code == 2 and "--retention-days" in bad.err
