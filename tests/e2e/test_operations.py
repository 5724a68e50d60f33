"""docs/operations.md, tested where a test can: the vault's own state, copied the documented
way (stopped, then vault.toml, the vault's pki/ files and store/), brings a vault up on a new
host that serves every snapshot, restores byte for byte, verifies, and whose audit chain
verifies and goes on from where it was."""

from __future__ import annotations

import json
import os
import subprocess

from tests.e2e.conftest import BIN, Site, wait_healthy

#: What a vault host holds that is the vault's (docs/operations.md "Backing up the vault").
VAULT_STATE = ("vault.toml", "pki/ca.crt", "pki/ca.key", "pki/vault.crt", "pki/vault.key",
               "pki/nodes.toml", "store")


def audit_lines(site: Site) -> list[str]:
    out = site.ctl("audit", "--json")
    assert out.code == 0, out.err
    return out.out.splitlines()


def test_a_vault_restored_from_a_copy_of_its_state_serves_snapshots_and_its_audit(site,
                                                                                   tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "model.bin").write_bytes(os.urandom(300_000))
    (data / "notes.txt").write_text("epoch 3\n")
    first = site.backup(data)["snapshot"]
    before = audit_lines(site)
    assert site.stop() == 0
    archive = tmp_path / "vault-state.tar"
    subprocess.run(["tar", "-C", site.dir, "-cf", archive, *VAULT_STATE], check=True,
                   timeout=60)
    new_host = tmp_path / "new-host"
    new_host.mkdir()
    subprocess.run(["tar", "-C", new_host, "-xf", archive], check=True, timeout=60)
    assert not (new_host / "tenant.key").exists()  # the vault's state holds no data key

    restored = Site(new_host, site.port)  # same name and port: clients change nothing
    restored.proc = subprocess.Popen([BIN / "vaultd", "--config", new_host / "vault.toml"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_healthy(f"127.0.0.1:{site.port}", restored.proc, site_dir=site.dir)  # the operator's
    try:
        listed = site.ctl("snapshots", "--json")
        assert [s["id"] for s in listed.json()] == [first]
        target = tmp_path / "r"
        assert site.ctl("restore", first, target).code == 0
        for name in ("model.bin", "notes.txt"):
            assert (target / data.relative_to("/") / name).read_bytes() == \
                (data / name).read_bytes()
        checked = site.ctl("verify", "latest", "--json")
        assert checked.code == 0 and checked.json()["ok"], checked.err
        assert site.ctl("audit", "verify").code == 0
        second = site.backup(data)["snapshot"]  # the node goes on backing up
        after = audit_lines(site)
        assert after[:len(before)] == before and len(after) > len(before)
        assert site.ctl("audit", "verify").code == 0
        assert second in {s["id"] for s in site.ctl("snapshots", "--json").json()}
        assert any(json.loads(json.loads(line)["record"])["action"] == "snapshot.commit"
                   for line in after[len(before):])
    finally:
        assert restored.stop() == 0
