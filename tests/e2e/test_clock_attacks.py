"""The compliance clock against a wound clock, with a real vaultd (issue 15 attack 5): a
restart inside a Linux time namespace whose boot time is 400 days ahead once counted 400
days of "downtime", and the operator then deleted a 30-day compliance snapshot."""

from __future__ import annotations

import json
import subprocess

from tests.e2e.conftest import BIN, wait_healthy
from tests.e2e.treeutil import make_tree
from tests.lib.vault_toml import set_keys

DAYS_400 = 400 * 86_400


def test_a_time_namespace_with_boot_time_400_days_ahead_expires_nothing(site, tmp_path):
    assert site.stop() == 0
    set_keys(site.dir / "vault.toml", "retention", mode="compliance", default_days=30)
    site.start()
    sid = site.backup(make_tree(tmp_path / "src"))["snapshot"]
    assert site.stop() == 0
    site.proc = subprocess.Popen(
        ["unshare", "--time", "--boottime", str(DAYS_400), BIN / "vaultd", "--config",
         site.dir / "vault.toml"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_healthy(f"127.0.0.1:{site.port}", site.proc, site_dir=site.dir)
    shown = site.ctl("retention", "show", sid, "--json")
    assert shown.code == 0, shown.err
    assert shown.json()["expired"] is False
    deleted = site.ctl("delete", sid)
    assert deleted.code == 1, deleted.out
    assert "compliance" in deleted.err
    assert [s["id"] for s in site.ctl("snapshots", "--json").json()] == [sid]
    audit = site.ctl("audit", "--json")
    records = [json.loads(json.loads(line)["record"]) for line in audit.out.splitlines()]
    resumed = [r for r in records if r["action"] == "clock.resume"][-1]
    assert resumed["outcome"] == "refused" and "boot time says" in resumed["detail"]
