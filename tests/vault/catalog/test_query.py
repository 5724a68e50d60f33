"""Snapshot queries on a real catalog: restic's filter rules, order, limit, paging."""

from __future__ import annotations

import pytest

from bulwark.vault.catalog import query as snapshot_query
from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.catalog.query import SnapshotQuery, query_snapshots
from bulwark.vault.errors import InvalidRequest
from tests.lib.clock import FakeClock

HOSTS = {"a": "host-1", "b": "host-2", "c": "host-1", "d": "host-3"}


def record(id: str, time_ns: int, node: str, tags: tuple[str, ...],
           paths: tuple[str, ...]) -> SnapshotRecord:
    return SnapshotRecord(id=id, time_ns=time_ns, node=node, header=id.encode(),
                          signature=b"s" * 64, tags=tags, paths=paths, files=1, bytes=1,
                          chunk_count=0)


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "catalog.sqlite", clock=FakeClock(1, step=1))
    cat.commit_snapshot(record("a", 10, "gpu-1", ("nightly", "ckpt"), ("/data", "/etc")), [])
    cat.commit_snapshot(record("b", 20, "gpu-2", ("nightly",), ("/data/",)), [])
    cat.commit_snapshot(record("c", 30, "gpu-1", ("ckpt",), ("/data/one.bin",)), [])
    cat.commit_snapshot(record("d", 40, "gpu-1", (), ("/data",)), [])
    yield cat
    cat.close()


def ids(catalog: Catalog, **kw) -> list[str]:
    host = lambda r: HOSTS[r.id]  # noqa: E731
    return [r.id for r in query_snapshots(catalog, SnapshotQuery(**kw), host)]


def test_filters_combine_as_restic_does(catalog):
    assert ids(catalog) == ["a", "b", "c", "d"]
    assert ids(catalog, node="gpu-1") == ["a", "c", "d"]
    assert ids(catalog, hosts=("host-1", "host-3")) == ["a", "c", "d"]
    # tag sets: any set, every tag of it
    assert ids(catalog, tag_sets=(("nightly", "ckpt"),)) == ["a"]
    assert ids(catalog, tag_sets=(("nightly",), ("ckpt",))) == ["a", "b", "c"]
    # paths: every given path among the snapshot's (a trailing '/' does not matter)
    assert ids(catalog, paths=("/data",)) == ["a", "b", "d"]
    assert ids(catalog, paths=("/data", "/etc/")) == ["a"]
    assert ids(catalog, node="gpu-1", paths=("/data",), newest_first=True, limit=1) == ["d"]
    assert ids(catalog, node="nobody") == []


def test_newest_first_and_limit(catalog):
    assert ids(catalog, newest_first=True) == ["d", "c", "b", "a"]
    assert ids(catalog, newest_first=True, limit=2) == ["d", "c"]


def test_pages_cover_every_snapshot_once(catalog, monkeypatch):
    monkeypatch.setattr(snapshot_query, "PAGE", 1)
    assert ids(catalog) == ["a", "b", "c", "d"]
    assert ids(catalog, newest_first=True, tag_sets=(("ckpt",),)) == ["c", "a"]


@pytest.mark.parametrize("bad, field", [
    ({"tag_sets": (("",),)}, "tag_sets"), ({"tag_sets": ((),)}, "tag_sets"),
    ({"hosts": ("",)}, "hosts"), ({"paths": ("data",)}, "paths"), ({"limit": -1}, "limit"),
])
def test_bad_query_names_the_field(catalog, bad, field):
    with pytest.raises(InvalidRequest, match=field):
        ids(catalog, **bad)
