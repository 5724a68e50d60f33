"""One conformance suite that every chunk store must pass, identically."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from bulwark.vault.errors import IntegrityError, InvalidRequest, NotFound, StorageError
from bulwark.vault.store import FilesystemStore, MemoryStore
from bulwark.vault.store.base import blob_digest
from bulwark.vault.store.s3 import S3ChunkStore
from tests.lib.faulty_store import FaultyStore
from tests.vault.conftest import make_blob


@pytest.fixture(params=["fs", "memory", "faulty", "s3"])
def store(request, tmp_path):
    if request.param == "fs":
        return FilesystemStore(tmp_path / "store")
    if request.param == "s3":  # a real Ceph radosgw (tests/lib/ceph_rgw.py), a new bucket
        from tests.vault.store.test_s3 import settings

        cluster = request.getfixturevalue("rgw_cluster")
        # Blobs unlocked until a snapshot references them, as the interface assumes here;
        # what the object store's locks add is tested in tests/vault/store/test_s3.py.
        return S3ChunkStore(settings(cluster, cluster.make_bucket(), tmp_path), put_lock_ns=0)
    if request.param == "faulty":  # tests.lib.faulty_store without faults: a MemoryStore
        return FaultyStore()
    return MemoryStore()


def test_put_get_round_trip(store):
    cid, data, digest = make_blob(1000)
    assert store.put(cid, data, digest) is True
    assert store.get(cid) == data
    assert store.has(cid)
    assert store.size(cid) == 1000


def test_empty_blob(store):
    cid, data, digest = make_blob(0)
    assert store.put(cid, data, digest) is True
    assert store.get(cid) == b""


def test_second_put_never_overwrites(store):
    cid, data, digest = make_blob()
    other = os.urandom(80)
    assert store.put(cid, data, digest) is True
    assert store.put(cid, other, blob_digest(other)) is False
    assert store.get(cid) == data


def test_digest_mismatch_refused_and_nothing_stored(store):
    cid, data, _ = make_blob()
    with pytest.raises(IntegrityError, match=r"digest mismatch \(sent .*, computed .*\)"):
        store.put(cid, data, blob_digest(b"something else"))
    assert not store.has(cid)
    assert list(store.iter_ids()) == []


def test_one_bad_item_refuses_the_whole_batch(store):
    good = make_blob()
    cid, data, _ = make_blob()
    with pytest.raises(IntegrityError):
        store.put_many([good, (cid, data, b"\0" * 32)])
    assert store.has_many([good[0], cid]) == set()


def test_malformed_id_or_digest_is_invalid_request(store):
    cid, data, digest = make_blob()
    with pytest.raises(InvalidRequest, match="31 bytes"):
        store.put(cid[:31], data, digest)
    with pytest.raises(InvalidRequest, match="digest is 16 bytes"):
        store.put(cid, data, digest[:16])
    assert not isinstance(IntegrityError("x"), NotFound)


def test_put_many_results_in_order_and_duplicates_within_batch(store):
    a, b = make_blob(), make_blob()
    assert store.put(*a) is True
    assert store.put_many([a, b, b]) == [False, True, False]
    assert store.get(b[0]) == b[1]


def test_get_missing_is_not_found(store):
    cid, _, _ = make_blob()
    with pytest.raises(NotFound, match=cid.hex()[:8]):
        store.get(cid)
    with pytest.raises(NotFound):
        store.size(cid)
    assert not store.has(cid)


def test_has_many_and_iter_ids(store):
    items = [make_blob() for _ in range(20)]
    store.put_many(items[:10])
    ids = [i[0] for i in items]
    assert store.has_many(ids) == set(ids[:10])
    assert sorted(store.iter_ids()) == sorted(ids[:10])


def test_delete(store):
    a, b = make_blob(), make_blob()
    store.put_many([a, b])
    store.delete(a[0])
    assert not store.has(a[0])
    assert store.has(b[0])
    assert list(store.iter_ids()) == [b[0]]
    with pytest.raises(NotFound):
        store.delete(a[0])
    # After a delete the id can be stored again (GC then re-upload).
    assert store.put(*a) is True


def test_fs_blob_is_read_only_with_fan_out(tmp_path):
    store = FilesystemStore(tmp_path)
    cid, data, digest = make_blob()
    store.put(cid, data, digest)
    h = cid.hex()
    path = tmp_path / "data" / h[:2] / h[2:4] / h
    assert path.read_bytes() == data
    assert path.stat().st_mode & 0o777 == 0o444
    assert list((tmp_path / "tmp").iterdir()) == []


def test_fs_stale_tmp_ignored_and_cleaned_on_open(tmp_path):
    store = FilesystemStore(tmp_path)
    a = make_blob()
    store.put(*a)
    stale = tmp_path / "tmp" / "crashed.tmp"
    stale.write_bytes(b"half a blob")
    # A crash between fsync and link leaves only tmp; it is not a stored blob.
    assert list(store.iter_ids()) == [a[0]]
    store.close()
    reopened = FilesystemStore(tmp_path)
    assert not stale.exists()
    assert list(reopened.iter_ids()) == [a[0]]
    assert reopened.get(a[0]) == a[1]


def test_fs_second_opener_is_refused_and_leaves_tmp_alone(tmp_path):
    """Issue 13 item 11: one process at a time; the refused opener deletes nothing."""
    store = FilesystemStore(tmp_path)
    in_flight = tmp_path / "tmp" / "writing.tmp"  # the holder's put, not yet linked
    in_flight.write_bytes(b"half a blob")
    with pytest.raises(StorageError, match=rf"in use by another vaultd \(pid {os.getpid()} "):
        FilesystemStore(tmp_path)
    assert in_flight.read_bytes() == b"half a blob"
    store.close()
    FilesystemStore(tmp_path).close()  # released: the next opener gets it
    assert not in_flight.exists()


def test_fs_lock_is_held_against_other_processes(tmp_path):
    store = FilesystemStore(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR); "
         "fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)", str(tmp_path / "LOCK")],
        capture_output=True, text=True, timeout=30)
    assert probe.returncode != 0 and "BlockingIOError" in probe.stderr
    store.close()


def test_fs_iter_ids_ignores_foreign_files(tmp_path):
    store = FilesystemStore(tmp_path)
    a = make_blob()
    store.put(*a)
    h = a[0].hex()
    (tmp_path / "data" / h[:2] / h[2:4] / "notes.txt").write_text("x")
    assert list(store.iter_ids()) == [a[0]]


# -- retention: every store asks the same lock oracle before deleting ---------------------


class Locks:
    def __init__(self) -> None:
        self.locked: dict[bytes, str] = {}

    def why_locked(self, chunk_id: bytes) -> str | None:
        return self.locked.get(chunk_id)


def test_locked_blob_is_never_deleted_whoever_asks(store):
    from bulwark.vault.errors import BlobLocked

    locks = Locks()
    store.set_lock_oracle(locks)
    a, b = make_blob(), make_blob()
    store.put_many([a, b])
    locks.locked[a[0]] = "locked by reference until 2030-01-01T00:00:00Z"
    with pytest.raises(BlobLocked, match="locked by reference until 2030"):
        store.delete(a[0])
    assert store.get(a[0]) == a[1]
    other = os.urandom(10)
    assert store.put(a[0], other, blob_digest(other)) is False  # nor overwritten
    assert store.get(a[0]) == a[1]
    store.delete(b[0])  # unlocked: allowed
    assert not store.has(b[0])
    del locks.locked[a[0]]  # the lock passed
    store.delete(a[0])
    assert list(store.iter_ids()) == []


def test_fs_blobs_are_immutable_where_the_process_can(tmp_path):
    from bulwark.vault.store.fs import has_immutable_capability, is_immutable

    store = FilesystemStore(tmp_path / "store")
    a = make_blob()
    store.put(*a)
    path = store.path_of(a[0])
    assert path.stat().st_mode & 0o777 == 0o444
    if not has_immutable_capability():
        pytest.skip("no CAP_LINUX_IMMUTABLE: blobs are read-only (0444) only")
    if not store.immutable:
        pytest.skip(f"{tmp_path}: the file system does not support the immutable attribute")
    assert is_immutable(path)
    with pytest.raises(PermissionError):
        path.chmod(0o644)  # not even root may touch it
    with pytest.raises(PermissionError):
        os.unlink(path)
    store.delete(a[0])  # an allowed delete clears the attribute first
    assert not path.exists()
