"""A vaultd on the S3 Object Lock store (issue 17), through the real CLIs: the bucket is the
source of truth, so a vault host that loses its catalog and audit log rebuilds both from the
bucket alone, and the start refuses a bucket the object store cannot lock."""

from __future__ import annotations

import shutil
import subprocess
import tomllib

import pytest

from tests.e2e.conftest import BIN
from tests.e2e.test_backup_restore import restored
from tests.e2e.treeutil import make_tree, snapshot_tree

pytestmark = pytest.mark.parametrize("site", ["s3"], indirect=True)


def bucket_of(site) -> str:
    return tomllib.loads((site.dir / "vault.toml").read_text())["store"]["bucket"]


def test_lost_vault_host_rebuilds_from_the_bucket(site, tmp_path, rgw_cluster):
    source = make_tree(tmp_path / "src")
    expected = snapshot_tree(source)
    first = site.backup(source, tags=("nightly",))
    (source / "added.txt").write_text("one more file\n")
    second = site.backup(source)
    held = site.ctl("hold", "set", first["snapshot"], "--reason", "case 42",
                    config=site.role_toml("officer"))
    assert held.code == 0, held.err
    before = site.ctl("snapshots", "--json").json()
    audit_before = site.ctl("audit", "--json").out.splitlines()

    # Chunks, records and audit entries are locked objects in the bucket.
    s3 = rgw_cluster.client()
    head = s3.head_object(Bucket=bucket_of(site), Key=f"snapshots/{first['snapshot']}")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockLegalHoldStatus"] == "ON"

    assert site.stop() == 0
    shutil.rmtree(site.dir / "state")  # the vault host's disk is gone; the bucket is not
    site.start()
    after = site.ctl("snapshots", "--json").json()
    assert [s["id"] for s in after] == [first["snapshot"], second["snapshot"]]
    assert after == before
    assert after[0]["retention"]["legal_hold"] is True
    verified = site.ctl("audit", "verify")
    assert verified.code == 0, verified.err
    assert site.ctl("audit", "--json").out.splitlines()[: len(audit_before)] == audit_before

    result = site.ctl("restore", first["snapshot"], tmp_path / "r", "--json")
    assert result.code == 0, result.err
    assert snapshot_tree(restored(tmp_path / "r", source)) == expected
    check = site.ctl("verify", "latest", "--json")
    assert check.code == 0, check.err
    assert check.json()["damaged"] == []


def test_vaultd_refuses_a_bucket_without_object_lock(site, rgw_cluster):
    assert site.stop() == 0
    plain = rgw_cluster.make_bucket(object_lock=False, versioning=True)
    config = site.dir / "vault.toml"
    config.write_text(config.read_text().replace(bucket_of(site), plain))
    proc = subprocess.run([BIN / "vaultd", "--config", config], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert f"s3://{plain}: Object Lock is not enabled on the bucket" in proc.stderr
    assert "create it with Object Lock enabled" in proc.stderr
