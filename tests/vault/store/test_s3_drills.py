"""The drill log on the S3 store, on a real radosgw (issue 17): every record reaches the
bucket before the local log, a lost ``drills.sqlite`` comes back from the bucket in order,
and a record the bucket refused is not recorded."""

from __future__ import annotations

import os

import pytest

from bulwark.vault.drill_log import DrillEntry, drill_id
from bulwark.vault.errors import StorageError
from bulwark.vault.store.s3 import S3ChunkStore
from bulwark.vault.store.s3_drills import DRILLS, BucketDrillLog, rebuild_drills
from bulwark.vault.store.s3_records import BucketRecords
from tests.vault.store.test_s3 import settings


def entry(n: int) -> DrillEntry:
    report, signature = os.urandom(300), os.urandom(64)
    return DrillEntry(drill_id(report, signature), 1_000 + n, "ab" * 32, "gpu-1", n % 2 == 0,
                      report, signature, os.urandom(32), "operator", "operator")


def test_drill_records_survive_a_lost_log_and_a_refused_one_is_not_recorded(
        rgw_cluster, tmp_path):
    store = S3ChunkStore(settings(rgw_cluster, rgw_cluster.make_bucket(), tmp_path))
    drills = BucketDrillLog(tmp_path / "drills.sqlite", BucketRecords(store, audit_days=1))
    made = [drills.append(entry(n)) for n in (2, 1, 3)]
    assert drills.append(made[0]) == made[0]  # the same signed report: the first record
    assert sorted(k for k, _ in store.list_keys(DRILLS)) == sorted(DRILLS + e.id for e in made)
    drills.close()

    assert rebuild_drills(store, tmp_path / "rebuilt.sqlite") == 3
    rebuilt = BucketDrillLog(tmp_path / "rebuilt.sqlite", BucketRecords(store, audit_days=1))
    assert rebuilt.list() == sorted(made, key=lambda e: e.recorded_ns)
    assert rebuilt.list(node="gpu-1", snapshot_id="ab" * 32) == rebuilt.list()

    gone = S3ChunkStore(settings(rgw_cluster, "no-such-bucket", tmp_path), check=False)
    refused = BucketDrillLog(tmp_path / "refused.sqlite", BucketRecords(gone, audit_days=1))
    with pytest.raises(StorageError, match="no-such-bucket"):
        refused.append(entry(4))
    assert refused.list() == []
    for log in (rebuilt, refused):
        log.close()
    store.close()
    gone.close()
