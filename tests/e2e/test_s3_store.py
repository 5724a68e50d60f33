"""A vaultd on the S3 Object Lock store (issue 17), through the real CLIs: the bucket is the
source of truth, so a vault host that loses its catalog and audit log rebuilds both from the
bucket alone, and the start refuses a bucket the object store cannot lock. WORM on the object
store: compliance refusals and holds reach the objects, prune after expiry deletes only what
the object store also lets go, scrub finds a substitute version stacked on a blob. (The
governance test of test_worm.py and the clean drill of test_drill.py run here too, as their
"s3" parameter.)"""

from __future__ import annotations

import shutil
import subprocess
import time
import tomllib
from datetime import UTC, datetime, timedelta

import pytest
import tomli_w

from tests.e2e.conftest import BIN
from tests.e2e.test_backup_restore import restored
from tests.e2e.test_worm import officer, refused, small_tree
from tests.e2e.treeutil import make_tree, snapshot_tree

DAY_S = 86_400

pytestmark = pytest.mark.parametrize("site", ["s3"], indirect=True)


def bucket_of(site) -> str:
    return tomllib.loads((site.dir / "vault.toml").read_text())["store"]["bucket"]


def reconfigure(site, retention: dict, **store) -> None:
    """Restart vaultd with ``[retention]`` replaced and ``store`` keys added to ``[store]``."""
    if site.proc is not None:
        assert site.stop() == 0
    path = site.dir / "vault.toml"
    doc = tomllib.loads(path.read_text())
    doc["retention"] = retention
    doc["store"].update(store)
    path.write_text(tomli_w.dumps(doc))
    site.start()


def chunk_keys(s3, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="chunks/")
                  .get("Contents", []))


def damage_list(site) -> list[tuple]:
    import sqlite3

    db = sqlite3.connect(site.dir / "state" / "catalog.sqlite")
    try:
        return db.execute("SELECT * FROM damaged_chunks ORDER BY chunk_id").fetchall()
    finally:
        db.close()


def test_lost_vault_host_rebuilds_from_the_bucket(site, tmp_path, rgw_cluster):
    """Also the vault-side state: tags added in the vault, a mark set by hand, per-node
    quota usage and the last scrub's damage list come back as they were."""
    source = make_tree(tmp_path / "src")
    expected = snapshot_tree(source)
    first = site.backup(source, tags=("nightly",))
    (source / "added.txt").write_text("one more file\n")
    second = site.backup(source)
    s3, bucket = rgw_cluster.client(), bucket_of(site)
    kept = set(chunk_keys(s3, bucket))
    third = site.backup(small_tree(tmp_path / "other", files=1))["snapshot"]
    held = site.ctl("hold", "set", first["snapshot"], "--reason", "case 42",
                    config=site.role_toml("officer"))
    assert held.code == 0, held.err
    for change in (("--add", "reviewed,keep"), ("--remove", "keep")):
        tagged = site.ctl("tag", second["snapshot"], *change)
        assert tagged.code == 0, tagged.err
    marked = officer(site, "mark", "set", second["snapshot"], "--reason", "odd entropy")
    assert marked.code == 0, marked.err
    s3.put_object(Bucket=bucket, Key=sorted(set(chunk_keys(s3, bucket)) - kept)[0],
                  Body=b"ransom")  # a substitute stacked on a blob only the third holds
    assert site.ctl("scrub", "--json").code == 1
    damaged = damage_list(site)
    assert len(damaged) == 1
    before = site.ctl("snapshots", "--json").json()
    assert before[1]["added_tags"] == ["reviewed"] and before[1]["mark"]["suspicious"]
    usage_before = site.ctl("stats", "--json").json()["quota_usage"]
    assert usage_before and all(u["stored_bytes"] > 0 for u in usage_before)
    audit_before = site.ctl("audit", "--json").out.splitlines()

    # Chunks, records and audit entries are locked objects in the bucket.
    s3 = rgw_cluster.client()
    head = s3.head_object(Bucket=bucket_of(site), Key=f"snapshots/{first['snapshot']}")
    assert head["ObjectLockMode"] == "GOVERNANCE" and head["ObjectLockLegalHoldStatus"] == "ON"

    assert site.stop() == 0
    shutil.rmtree(site.dir / "state")  # the vault host's disk is gone; the bucket is not
    site.start()
    after = site.ctl("snapshots", "--json").json()
    assert [s["id"] for s in after] == [first["snapshot"], second["snapshot"], third]
    assert after == before  # retention, holds, signed and added tags, marks
    assert after[0]["retention"]["legal_hold"] is True
    assert site.ctl("stats", "--json").json()["quota_usage"] == usage_before
    assert damage_list(site) == damaged
    verified = site.ctl("audit", "verify")
    assert verified.code == 0, verified.err
    assert site.ctl("audit", "--json").out.splitlines()[: len(audit_before)] == audit_before

    result = site.ctl("restore", first["snapshot"], tmp_path / "r", "--json")
    assert result.code == 0, result.err
    assert snapshot_tree(restored(tmp_path / "r", source)) == expected
    check = site.ctl("verify", second["snapshot"], "--json")
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


def test_compliance_refusals_and_holds_reach_the_objects(site, tmp_path, rgw_cluster):
    reconfigure(site, {"mode": "compliance", "default_days": 30, "minimum_days": 1,
                       "lease_hours": 0})
    sid = site.backup(small_tree(tmp_path / "src"))["snapshot"]
    refused(officer(site, "delete", sid, "--bypass-governance"), f"snapshot {sid[:12]}",
            "locked in compliance mode until", "nobody can delete it before then")
    soon = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    refused(officer(site, "retention", "extend", sid, "--until", soon, "--bypass-governance"),
            "never shortened")
    extended = site.ctl("retention", "extend", sid, "--days", "90", "--json")
    assert extended.code == 0, extended.err

    s3, bucket = rgw_cluster.client(), bucket_of(site)
    keys = [*chunk_keys(s3, bucket), f"snapshots/{sid}"]
    assert len(keys) > 1
    for key in keys:  # lock extension by reference, on the object store's own clock
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        assert head["ObjectLockRetainUntilDate"].timestamp() > time.time() + 89 * DAY_S, key
    # Nobody, the vault's own keys included, deletes a locked version early.
    version = s3.list_object_versions(Bucket=bucket, Prefix=keys[0])["Versions"][0]
    for bypass in (False, True):
        with pytest.raises(s3.exceptions.ClientError, match="AccessDenied"):
            s3.delete_object(Bucket=bucket, Key=keys[0], VersionId=version["VersionId"],
                             BypassGovernanceRetention=bypass)

    assert officer(site, "hold", "set", sid, "--reason", "case 42").code == 0
    for key in keys:
        assert s3.head_object(Bucket=bucket, Key=key)["ObjectLockLegalHoldStatus"] == "ON"
    assert officer(site, "hold", "clear", sid).code == 0
    for key in keys[:-1]:
        assert s3.head_object(Bucket=bucket, Key=key).get("ObjectLockLegalHoldStatus") != "ON"
    verify = site.ctl("audit", "verify")
    assert verify.code == 0, verify.err


def test_prune_after_expiry_deletes_only_what_the_object_store_lets_go(
        site, tmp_path, rgw_cluster):
    """Snapshots expire at once (default_days 0). With chunk locks rounded up to 365-day
    steps the catalog releases the chunks but the object store still locks them: prune
    drops the rows, keeps the blobs and counts nothing freed; the same data backs up again.
    Without rounding the object locks end with the snapshot, and prune deletes the blobs."""
    reconfigure(site, {"mode": "governance", "default_days": 0, "minimum_days": 0,
                       "lease_hours": 0}, lock_step_days=365)
    s3, bucket = rgw_cluster.client(), bucket_of(site)
    source = small_tree(tmp_path / "kept", seed=1)
    first = site.backup(source)["snapshot"]
    kept = chunk_keys(s3, bucket)
    pruned = site.ctl("prune", "--yes", "--json")
    assert pruned.code == 0, pruned.err
    assert pruned.json()["snapshots"] == [first]
    assert (pruned.json()["chunks"], pruned.json()["bytes"]) == (0, 0)
    assert chunk_keys(s3, bucket) == kept  # the object store refused: still locked
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix=f"snapshots/{first}")
    check = site.ctl("check", "--json")
    assert check.code == 0, check.err
    assert check.json()["reclaimable_count"] == len(kept)
    again = site.backup(source)["snapshot"]  # rowless blobs are recorded again
    result = site.ctl("restore", again, tmp_path / "r", "--verify", "--json")
    assert result.code == 0, result.err
    kept = chunk_keys(s3, bucket)  # and its new manifest's chunks, locked as long

    reconfigure(site, {"mode": "governance", "default_days": 0, "minimum_days": 0,
                       "lease_hours": 0}, lock_step_days=0)
    gone = site.backup(small_tree(tmp_path / "freed", seed=2))["snapshot"]
    new = sorted(set(chunk_keys(s3, bucket)) - set(kept))
    assert new
    heads = [s3.head_object(Bucket=bucket, Key=k) for k in new]
    ends = max(h["ObjectLockRetainUntilDate"].timestamp() if "ObjectLockRetainUntilDate" in h
               else 0.0 for h in heads)
    assert ends < time.time() + 30  # the snapshot's retain-until (passed), not a step later
    time.sleep(max(0.0, ends - time.time() + 1))
    done = site.ctl("prune", "--yes", "--json")
    assert done.code == 0, done.err
    assert sorted(done.json()["snapshots"]) == sorted([again, gone])
    assert done.json()["chunks"] == len(new)
    assert chunk_keys(s3, bucket) == kept  # the 365-day locks still hold the first tree


def test_scrub_reports_a_version_stacked_on_a_locked_blob(site, tmp_path, rgw_cluster):
    sid = site.backup(small_tree(tmp_path / "src", files=1))["snapshot"]
    assert site.ctl("scrub", "--json").code == 0
    s3, bucket = rgw_cluster.client(), bucket_of(site)
    key = chunk_keys(s3, bucket)[0]
    s3.put_object(Bucket=bucket, Key=key, Body=b"ransom")  # with the bucket's own keys
    scrubbed = site.ctl("scrub", "--json")
    assert scrubbed.code == 1, scrubbed.err
    (damage,) = scrubbed.json()["damaged"]
    assert damage["chunk_id"] == key.removeprefix("chunks/")
    assert "hash mismatch" in damage["problem"] and damage["snapshots"] == [sid]
    assert site.ctl("verify", sid).code == 1
    versions = s3.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]
    assert len(versions) == 2  # the locked original stays in the bucket


def reindex(site, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BIN / "vaultd", "--config", site.dir / "vault.toml", "--reindex",
                           *args], capture_output=True, text=True, timeout=300)


def test_vaultd_reindex_rebuilds_a_stopped_vaults_catalog_from_the_bucket(site, tmp_path):
    import json
    import sqlite3

    source = make_tree(tmp_path / "src")
    first = site.backup(source)["snapshot"]
    (source / "added.txt").write_text("one more file\n")
    second = site.backup(source)["snapshot"]
    assert officer(site, "hold", "set", first, "--reason", "case 7").code == 0
    assert site.ctl("retention", "extend", second, "--days", "60").code == 0
    before = site.ctl("snapshots", "--json").json()
    busy = reindex(site)
    assert busy.returncode == 1 and "in use by another vaultd" in busy.stderr, busy.stderr

    assert site.stop() == 0
    state = site.dir / "state"
    db = sqlite3.connect(state / "catalog.sqlite")  # the catalog diverged from the bucket
    db.execute("DELETE FROM snapshot_chunks WHERE snapshot_id = ?", (second,))
    db.execute("DELETE FROM snapshots WHERE id = ?", (second,))
    db.execute("UPDATE snapshots SET legal_hold = 0, hold_reason = ''")
    db.commit()
    db.close()
    done = reindex(site, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["snapshots"], report["skipped"], report["audit"]) == (2, [], "kept")
    assert sqlite3.connect(report["previous_catalog"]).execute(
        "SELECT count(*) FROM snapshots").fetchone() == (1,)  # kept beside, never deleted

    site.start()
    assert site.ctl("snapshots", "--json").json() == before
    verified = site.ctl("audit", "verify")
    assert verified.code == 0, verified.err
    entries = [json.loads(json.loads(line)["record"])
               for line in site.ctl("audit", "--json").out.splitlines()]
    assert "catalog.reindex" in [e["action"] for e in entries]
    result = site.ctl("restore", second, tmp_path / "r", "--verify", "--json")
    assert result.code == 0, result.err

    assert site.stop() == 0  # an audit log behind the bucket's is rebuilt, the old kept
    (state / "audit.sqlite").rename(tmp_path / "lost-audit.sqlite")
    again = reindex(site, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["audit"] == "rebuilt"
    site.start()
    verified = site.ctl("audit", "verify")
    assert verified.code == 0, verified.err

