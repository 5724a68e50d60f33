"""The S3 Object Lock store against a real Ceph radosgw (tests/lib/ceph_rgw.py): what the
object store itself enforces, the start-up checks, errors, and the bucket as the source of
truth (snapshot records, audit entries, catalog rebuild)."""

from __future__ import annotations

import io
import os
import time
from dataclasses import replace
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from bulwark.vault.audit.log import AuditLog, verify_chain
from bulwark.vault.catalog.db import Catalog, SnapshotRecord, snapshot_id
from bulwark.vault.errors import BlobLocked, ConfigError, NotFound, StorageError
from bulwark.vault.store.base import blob_digest
from bulwark.vault.store.s3 import S3ChunkStore, S3Settings, read_credentials
from bulwark.vault.store.s3_records import (
    SNAPSHOTS,
    BucketAuditLog,
    BucketCatalog,
    BucketRecords,
    rebuild,
)
from bulwark.vault.worm.clock import SystemClock
from bulwark.vault.worm.retention import DAY_NS, Retention
from tests.lib.ceph_rgw import CephRGW
from tests.vault.conftest import make_blob

MiB = 1 << 20


def settings(rgw: CephRGW, bucket: str, tmp_path: Path, secret: str = "") -> S3Settings:
    creds = tmp_path / f"s3-{bucket}.toml"
    creds.write_text(f'access_key_id = "{rgw.access_key}"\n'
                     f'secret_access_key = "{secret or rgw.secret_key}"\n')
    creds.chmod(0o600)
    return S3Settings(endpoint=rgw.endpoint, bucket=bucket, credentials_file=creds)


@pytest.fixture
def locked_store(rgw_cluster, tmp_path):
    """A compliance-mode store whose new blobs are locked for a day."""
    bucket = rgw_cluster.make_bucket()
    return S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), mode="compliance",
                        put_lock_ns=DAY_NS)


# -- what the object store enforces --------------------------------------------------------


@pytest.mark.parametrize("size", [1000, 20 * MiB], ids=["small", "above-multipart-threshold"])
def test_locked_blob_cannot_be_deleted_or_overwritten_with_the_vaults_credentials(
        locked_store, rgw_cluster, size):
    """Whatever its size (20 MiB is above boto3's 8 MiB multipart threshold), a blob put by
    the store carries its lock, read back from the object store, and the vault's own keys
    can neither delete it nor replace its bytes (a new version leaves the locked one)."""
    store = locked_store
    cid, data, digest = make_blob(size)
    assert store.put(cid, data, digest) is True
    s3, key = rgw_cluster.client(), store.key_of(cid)
    head = s3.head_object(Bucket=store.bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"].timestamp() > time.time() + 23 * 3600
    (original,) = [v["VersionId"] for v in
                   s3.list_object_versions(Bucket=store.bucket, Prefix=key)["Versions"]]

    with pytest.raises(BlobLocked, match="compliance retention until"):
        store.delete(cid)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=store.bucket, Key=key, VersionId=original)
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=store.bucket, Key=key, VersionId=original,
                         BypassGovernanceRetention=True)
    # Overwrites, single-part and multipart: each only stacks a newer version.
    s3.put_object(Bucket=store.bucket, Key=key, Body=b"ransom")
    multipart = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    s3.upload_fileobj(io.BytesIO(os.urandom(size)), store.bucket, key, Config=multipart)
    kept = s3.get_object(Bucket=store.bucket, Key=key, VersionId=original)
    assert kept["Body"].read() == data
    assert kept["ObjectLockMode"] == "COMPLIANCE"
    with pytest.raises(ClientError, match="AccessDenied"):
        s3.delete_object(Bucket=store.bucket, Key=key, VersionId=original)
    # The vault's read path notices the substitute (digest check), never trusts it.
    assert blob_digest(store.get(cid)) != digest


def test_governance_lock_refuses_delete_without_bypass(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket()
    store = S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), mode="governance",
                         put_lock_ns=DAY_NS)
    cid, data, digest = make_blob()
    store.put(cid, data, digest)
    with pytest.raises(BlobLocked, match="governance retention until"):
        store.delete(cid)
    assert store.get(cid) == data


def test_lock_extends_and_never_shortens(locked_store, rgw_cluster):
    store = locked_store
    a = make_blob()
    store.put(*a)
    s3, key = rgw_cluster.client(), store.key_of(a[0])
    later = time.time_ns() + 10 * DAY_NS
    store.lock([a[0]], later)
    until = s3.head_object(Bucket=store.bucket, Key=key)["ObjectLockRetainUntilDate"]
    assert abs(until.timestamp() - store.step_up(later) / 1e9) < 2  # whole lock steps
    assert store.step_up(later) - later < DAY_NS
    store.lock([a[0]], time.time_ns() + 2 * DAY_NS)  # shorter: a no-op, not an error
    assert s3.head_object(Bucket=store.bucket, Key=key)["ObjectLockRetainUntilDate"] == until
    # Passed already (a snapshot kept 0 days): S3 refuses such a date, so nothing is sent.
    store.lock([a[0]], time.time_ns() - 2 * DAY_NS)
    assert store.lock_args(time.time_ns()) == {}
    assert s3.head_object(Bucket=store.bucket, Key=key)["ObjectLockRetainUntilDate"] == until


def test_legal_hold_blocks_delete_until_cleared(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket()
    store = S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), put_lock_ns=0)
    a, b = make_blob(), make_blob()
    store.put_many([a, b])
    store.hold([a[0]], True)
    with pytest.raises(BlobLocked, match="legal hold"):
        store.delete(a[0])
    store.delete(b[0])  # no retention, no hold: the store lets it go
    store.hold([a[0]], False)
    store.delete(a[0])
    assert list(store.iter_ids()) == []
    with pytest.raises(NotFound):
        store.delete(a[0])


# -- start-up checks and errors ------------------------------------------------------------


def test_start_refuses_a_missing_bucket(rgw_cluster, tmp_path):
    with pytest.raises(StorageError, match="no such bucket; create it with Object Lock"):
        S3ChunkStore(settings(rgw_cluster, "bulwark-nonexistent", tmp_path))


def test_start_refuses_a_bucket_without_versioning(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket(object_lock=False)
    with pytest.raises(StorageError, match=f"s3://{bucket}: versioning is not enabled"):
        S3ChunkStore(settings(rgw_cluster, bucket, tmp_path))


def test_start_refuses_a_bucket_without_object_lock(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket(object_lock=False, versioning=True)
    with pytest.raises(StorageError, match=f"s3://{bucket}: Object Lock is not enabled"):
        S3ChunkStore(settings(rgw_cluster, bucket, tmp_path))


def test_wrong_secret_is_a_clear_error(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket()
    with pytest.raises(StorageError, match=f"head_bucket s3://{bucket} at http://127.0.0.1"):
        S3ChunkStore(settings(rgw_cluster, bucket, tmp_path, secret="wrong" * 8))


def test_another_users_keys_are_refused_naming_bucket_and_operation(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket()
    store = S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), put_lock_ns=0)
    a = make_blob()
    store.put(*a)
    access, secret = rgw_cluster.create_user(f"intruder-{os.getpid()}-{time.monotonic_ns()}")
    creds = tmp_path / "intruder.toml"
    creds.write_text(f'access_key_id = "{access}"\nsecret_access_key = "{secret}"\n')
    creds.chmod(0o600)
    other = S3ChunkStore(replace(store.settings, credentials_file=creds), check=False)
    with pytest.raises(StorageError, match=f"get_object s3://{bucket}/chunks/"):
        other.get(a[0])


def test_unreachable_endpoint_is_named(tmp_path):
    from tests.lib.ceph_rgw import free_port

    creds = tmp_path / "c.toml"
    creds.write_text('access_key_id = "a"\nsecret_access_key = "b"\n')
    creds.chmod(0o600)
    endpoint = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StorageError, match=f"head_bucket s3://vault at {endpoint}: .*connect"):
        S3ChunkStore(S3Settings(endpoint=endpoint, bucket="vault", credentials_file=creds))


def test_credentials_file_must_be_private_and_complete(tmp_path):
    creds = tmp_path / "c.toml"
    creds.write_text('access_key_id = "a"\nsecret_access_key = "b"\n')
    creds.chmod(0o644)
    with pytest.raises(ConfigError, match="must not be readable by group or others"):
        read_credentials(creds)
    creds.chmod(0o600)
    assert read_credentials(creds) == ("a", "b")
    creds.write_text('access_key_id = "a"\n')
    with pytest.raises(ConfigError, match="secret_access_key: required"):
        read_credentials(creds)


# -- the bucket is the source of truth -----------------------------------------------------


def make_record(chunk_ids: list[bytes], until_ns: int, node: str = "gpu-1") -> SnapshotRecord:
    header, signature, now = os.urandom(120), os.urandom(64), time.time_ns()
    return SnapshotRecord(
        id=snapshot_id(header, signature, now), time_ns=now, node=node, header=header,
        signature=signature, tags=("nightly",), paths=("/data",), files=3, bytes=3000,
        chunk_count=len(chunk_ids), retention=Retention("compliance", until_ns))


def test_catalog_and_audit_rebuild_from_the_bucket_alone(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket()
    store = S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), mode="compliance",
                         put_lock_ns=3_600 * 10**9)
    records = BucketRecords(store, audit_days=1)
    host = tmp_path / "host"
    host.mkdir()
    catalog = BucketCatalog(host / "catalog.sqlite", store, records)
    audit = BucketAuditLog(host / "audit.sqlite", SystemClock(), records)
    blobs = [make_blob(100 + i) for i in range(30)]
    store.put_many(blobs)
    catalog.record_chunks([(c, len(d), g) for c, d, g in blobs])
    now = time.time_ns()
    first = catalog.commit_snapshot(make_record([b[0] for b in blobs[:20]], now + DAY_NS),
                                    [b[0] for b in blobs[:20]])
    second = catalog.commit_snapshot(make_record([b[0] for b in blobs[10:]], now + 3 * DAY_NS),
                                     [b[0] for b in blobs[10:]])
    audit.append("officer", "officer", "hold.set", f"snapshot:{first.id}", "allowed", "case 7")
    catalog.set_legal_hold(first.id, True, "case 7")
    catalog.set_retain_until(second.id, now + 5 * DAY_NS)
    audit.append("operator", "operator", "retention.extend", f"snapshot:{second.id}", "allowed")

    # Lock extension by reference, enforced by the object store: a chunk shared by both
    # snapshots is locked until the later one's (extended) retain-until, and held.
    s3 = rgw_cluster.client()
    head = s3.head_object(Bucket=bucket, Key=store.key_of(blobs[15][0]))
    until = head["ObjectLockRetainUntilDate"].timestamp()
    assert abs(until - store.step_up(now + 5 * DAY_NS) / 1e9) < 2
    assert head["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.head_object(Bucket=bucket, Key=store.key_of(blobs[25][0])).get(
        "ObjectLockLegalHoldStatus") != "ON"
    # An unreferenced blob (a crash before its row) is found and hashed from the store.
    stray = make_blob(77)
    store.put(*stray)

    # The vault host is lost: a new one rebuilds from the bucket alone.
    new = tmp_path / "new-host"
    new.mkdir()
    report = rebuild(store, new / "catalog.sqlite", new / "audit.sqlite")
    assert (report.snapshots, report.chunks, report.hashed) == (2, 31, 1)
    assert report.skipped == []
    assert report.audit_entries == 2
    rebuilt = Catalog(new / "catalog.sqlite")
    assert [r.id for r in rebuilt.list_snapshots()] == [first.id, second.id]
    got = {r.id: r for r in rebuilt.list_snapshots()}
    assert got[first.id].retention.legal_hold and got[first.id].retention.hold_reason == "case 7"
    assert got[second.id].retention.retain_until_ns == now + 5 * DAY_NS
    assert got[first.id].header == first.header and got[first.id].signature == first.signature
    for cid, _data, digest in blobs:
        assert rebuilt.chunk_digest(cid) == digest
    assert rebuilt.chunk_digest(stray[0]) == stray[2]
    assert rebuilt.chunk_lock(blobs[15][0], now) is not None
    assert sorted(rebuilt.snapshots_referencing(blobs[15][0])) == sorted([first.id, second.id])
    old_audit = list(audit.entries())
    new_audit = AuditLog(new / "audit.sqlite", SystemClock())
    assert list(new_audit.entries()) == old_audit
    assert verify_chain(new_audit.entries()) is None
    # The local audit log is behind the bucket: refuse rather than fork the chain.
    with pytest.raises(StorageError, match="the bucket is the source of truth"):
        BucketAuditLog(tmp_path / "empty-audit.sqlite", SystemClock(), records)


def test_a_deleted_snapshot_stays_deleted_after_rebuild(rgw_cluster, tmp_path):
    bucket = rgw_cluster.make_bucket()
    store = S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), mode="governance",
                         put_lock_ns=0)
    records = BucketRecords(store)
    catalog = BucketCatalog(tmp_path / "catalog.sqlite", store, records)
    a = make_blob()
    store.put(*a)
    catalog.record_chunks([(a[0], len(a[1]), a[2])])
    gone = catalog.commit_snapshot(make_record([a[0]], time.time_ns() - 1), [a[0]])
    kept = catalog.commit_snapshot(make_record([a[0]], time.time_ns() + DAY_NS), [a[0]])
    assert catalog.delete_expired([gone.id, kept.id], time.time_ns()) == [gone.id]
    keys = [k for k, _ in store.list_keys(SNAPSHOTS)]
    assert keys == [SNAPSHOTS + kept.id]
    report = rebuild(store, tmp_path / "new.sqlite", tmp_path / "new-audit.sqlite")
    assert report.snapshots == 1
    assert [r.id for r in Catalog(tmp_path / "new.sqlite").list_snapshots()] == [kept.id]


def test_commit_with_a_missing_chunk_writes_nothing_to_the_bucket(rgw_cluster, tmp_path):
    from bulwark.vault.errors import MissingChunks

    bucket = rgw_cluster.make_bucket()
    store = S3ChunkStore(settings(rgw_cluster, bucket, tmp_path), put_lock_ns=0)
    catalog = BucketCatalog(tmp_path / "catalog.sqlite", store, BucketRecords(store))
    a = make_blob()
    with pytest.raises(MissingChunks):
        catalog.commit_snapshot(make_record([a[0]], time.time_ns() + DAY_NS), [a[0]])
    assert list(store.list_keys(SNAPSHOTS)) == []
    assert catalog.list_snapshots() == []
