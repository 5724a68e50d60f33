"""``[[forget]]`` in vault.toml against a real vaultd: the job runs on its cron schedule,
forgets what its policy no longer needs (locks expired), audits the run and every deletion,
and prune then frees space without deleting the snapshot the policy keeps (with forget
policies, snapshots leave only through forget). A bad table stops vaultd with exit 2."""

from __future__ import annotations

import json
import time

from tests.e2e.conftest import Site
from tests.lib.vault_toml import set_keys

NO_LOCK = {"default_days": 0, "minimum_days": 0, "lease_hours": 0}
JOB = ('\n[[forget]]\nname = "keep-two"\nschedule = "*/2 * * * * *"\nkeep_last = 2\n'
       'tags = ["nightly"]\n')


def _audit(site: Site) -> list[dict]:
    r = site.ctl("audit", "--json")
    assert r.code == 0, r.err
    return [json.loads(json.loads(line)["record"]) for line in r.out.splitlines()]


def test_scheduled_forget_runs_audits_and_prune_keeps_what_it_keeps(site: Site, tmp_path):
    vault_toml = site.dir / "vault.toml"
    site.stop()
    set_keys(vault_toml, "retention", **NO_LOCK)
    site.start()
    data = tmp_path / "data"
    data.mkdir()
    ids = []
    for i in range(4):
        (data / "f.bin").write_bytes(bytes([i]) * 200_000)
        ids.append(site.backup(data, tags=("nightly",))["snapshot"])
    other = site.backup(data, tags=("adhoc",))["snapshot"]  # outside the job's filter
    site.stop()
    vault_toml.write_text(vault_toml.read_text() + JOB)
    site.start()
    deadline = time.monotonic() + 30
    runs: list[dict] = []
    while not runs and time.monotonic() < deadline:
        time.sleep(0.5)
        runs = [e for e in _audit(site) if e["action"] == "forget.job"]
    assert runs, "the forget job did not run within 30 s"
    assert runs[0]["outcome"] == "allowed" and runs[0]["target"] == "forget:keep-two"
    assert (runs[0]["actor"], runs[0]["role"]) == ("vaultd", "system")
    assert "2 forget" in runs[0]["detail"] and "2 keep" in runs[0]["detail"]
    left = {s["id"] for s in site.ctl("snapshots", "--json").json()}
    assert left == {ids[2], ids[3], other}
    deleted = [e["target"] for e in _audit(site) if e["action"] == "snapshot.delete"]
    assert sorted(deleted) == sorted(f"snapshot:{i}" for i in ids[:2])
    # Every lock has expired; prune frees the forgotten snapshots' chunks but deletes none
    # of the three left (the policy, not the lock, decides with [[forget]] tables).
    pruned = site.ctl("prune", "--yes", "--json")
    assert pruned.code == 0, pruned.err
    assert pruned.json()["snapshots"] == [] and pruned.json()["chunks"] >= 2
    assert {s["id"] for s in site.ctl("snapshots", "--json").json()} == left
    assert site.ctl("audit", "verify").code == 0


def test_bad_forget_table_stops_vaultd_with_exit_2(site: Site):
    vault_toml = site.dir / "vault.toml"
    site.stop()
    vault_toml.write_text(vault_toml.read_text()
                          + '\n[[forget]]\nname = "x"\nschedule = "* * * * *"\n')
    r = site.run("vaultd", "--config", vault_toml)
    assert r.code == 2 and "forget[0].keep_*" in r.err and "no keep rule" in r.err
