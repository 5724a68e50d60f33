"""Per-node quotas (vault.ingest.quota) over a real catalog file: charged to the node that put a
blob first, lowered by a commit that references it and by prune, refused whole when over."""

from __future__ import annotations

import pytest

from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.errors import LimitExceeded
from bulwark.vault.ingest.limits import Limits
from bulwark.vault.ingest.quota import NodeUsage, Quotas
from bulwark.vault.ingest.upload_guard import UploadGuard
from bulwark.vault.store.fs import FilesystemStore
from bulwark.vault.worm.prune import prune
from bulwark.vault.worm.retention import GOVERNANCE, Retention
from tests.lib.clock import FakeClock
from tests.vault.conftest import make_blob

CLOCK = FakeClock()
LEASE_NS = 10**9


def put(catalog: Catalog, node: str, *items) -> None:
    """Record ``items`` as a PutChunks message of ``node`` does, leased for a second."""
    catalog.record_chunks([(cid, len(data), digest) for cid, data, digest in items],
                          lease_until_ns=CLOCK.now_ns() + LEASE_NS, uploader=node)


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "catalog.sqlite", CLOCK)
    yield cat
    cat.close()


def reserve(quotas: Quotas, node: str, sizes: list[int]) -> int:
    """Charge and settle at once (as a PutChunks message that stored its blobs)."""
    with quotas.charge(node, sizes) as total:
        return total


def commit(catalog: Catalog, node: str, ids) -> None:
    now = CLOCK.now_ns()
    catalog.commit_snapshot(SnapshotRecord(
        id=f"{node}-{now}", time_ns=now, node=node, header=b"h", signature=b"s", tags=(),
        paths=(), files=0, bytes=0, chunk_count=len(ids),
        retention=Retention(GOVERNANCE, now)), ids)


def test_usage_is_charged_to_the_first_uploader_and_commits_lower_uncommitted(catalog):
    a1, a2, shared = make_blob(100), make_blob(200), make_blob(50)
    put(catalog, "gpu-1", a1, a2, shared)
    put(catalog, "gpu-2", shared)  # already held: nothing charged to gpu-2
    quotas = Quotas(catalog.path, Limits())
    assert quotas.usage() == [NodeUsage("gpu-1", 350, 350)]
    commit(catalog, "gpu-1", [a1[0]])
    commit(catalog, "gpu-2", [shared[0]])  # another node's commit counts as well
    assert quotas.usage("gpu-1") == [NodeUsage("gpu-1", 350, 200)]


def test_a_message_over_the_uncommitted_quota_is_refused_naming_key_and_node(catalog):
    quotas = Quotas(catalog.path, Limits(node_uncommitted_bytes=1000))
    assert reserve(quotas, "gpu-1", [600]) == 600
    put(catalog, "gpu-1", make_blob(600))
    with pytest.raises(LimitExceeded) as err:
        reserve(quotas, "gpu-1", [300, 200])
    message = str(err.value)
    assert "node_uncommitted_bytes" in message and "'gpu-1'" in message
    assert "600 B" in message and "500 B" in message and "1000 B" in message
    assert reserve(quotas, "gpu-2", [900]) == 900  # per node


def test_a_commit_frees_uncommitted_room_but_not_stored_room(catalog):
    quotas = Quotas(catalog.path, Limits(node_stored_bytes=1500, node_uncommitted_bytes=1000))
    first = make_blob(900)
    reserve(quotas, "gpu-1", [900])
    put(catalog, "gpu-1", first)
    with pytest.raises(LimitExceeded, match="node_uncommitted_bytes"):
        reserve(quotas, "gpu-1", [500])
    commit(catalog, "gpu-1", [first[0]])
    reserve(quotas, "gpu-1", [500])  # the bound is re-read exactly when it would refuse
    put(catalog, "gpu-1", make_blob(500))
    with pytest.raises(LimitExceeded, match="node_stored_bytes"):
        reserve(quotas, "gpu-1", [200])


def test_a_charge_in_flight_counts_and_a_failed_one_is_given_back(catalog):
    quotas = Quotas(catalog.path, Limits(node_uncommitted_bytes=1000))
    with pytest.raises(OSError), quotas.charge("gpu-1", [800]):
        with pytest.raises(LimitExceeded), quotas.charge("gpu-1", [800]):
            pass  # a second stream while the first has not recorded its blobs yet
        raise OSError("disk full")
    with quotas.charge("gpu-1", [800]) as charged:
        assert charged == 800


def test_uncommitted_uploads_are_reclaimed_by_prune_after_their_lease(catalog, tmp_path):
    store = FilesystemStore(tmp_path / "store")
    items = [make_blob(300), make_blob(300)]
    store.put_many(items)
    put(catalog, "gpu-1", *items)
    quotas = Quotas(catalog.path, Limits(node_uncommitted_bytes=1000))
    reserve(quotas, "gpu-1", [1])
    report = prune(catalog, store, CLOCK, UploadGuard(), dry_run=False)
    assert report.chunks == 0, "reclaimed inside the lease"
    CLOCK.advance(seconds=2)
    report = prune(catalog, store, CLOCK, UploadGuard(), dry_run=False)
    assert report.chunks == 2 and report.bytes == 600
    assert quotas.usage("gpu-1") == []
    assert reserve(quotas, "gpu-1", [999]) == 999  # the room is back
    store.close()


def test_no_quota_set_charges_nothing(catalog):
    quotas = Quotas(catalog.path, Limits())
    assert not quotas.enabled
    assert reserve(quotas, "gpu-1", [1 << 50]) == 0
    assert quotas.usage() == []
