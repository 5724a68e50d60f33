"""Added tags on a real catalog file: the named migration, add and remove, signed tags that
cannot be removed, bad tags, unknown snapshots, and rows that go with a deleted snapshot."""

from __future__ import annotations

import sqlite3

import pytest

from bulwark.vault.catalog.db import Catalog, SnapshotRecord
from bulwark.vault.catalog.query import SnapshotQuery, query_snapshots
from bulwark.vault.catalog.schema import MIGRATIONS
from bulwark.vault.catalog.tags import SnapshotTags, tags_of
from bulwark.vault.errors import InvalidRequest, NotFound, RetentionRefused
from tests.lib.clock import FakeClock


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "catalog.sqlite", clock=FakeClock(1_700_000_000_000_000_000, step=1))
    for i, sid in enumerate(("a" * 64, "b" * 64)):
        cat.commit_snapshot(SnapshotRecord(
            id=sid, time_ns=10 + i, node="gpu-01", header=b"h" + sid.encode(),
            signature=b"s" * 64, tags=("nightly",), paths=("/ckpt",), files=1, bytes=1,
            chunk_count=0), [])
    yield cat
    cat.close()


def test_migration_is_named_and_applied_once(catalog):
    assert "snapshot-tags" in [name for name, _ in MIGRATIONS]
    db = sqlite3.connect(catalog.path)
    assert db.execute("SELECT count(*) FROM catalog_migrations WHERE name = 'snapshot-tags'"
                      ).fetchone() == (1,)
    Catalog(catalog.path).close()  # reopening applies nothing twice
    assert db.execute("SELECT count(*) FROM catalog_migrations").fetchone()[0] == len(MIGRATIONS)


def test_add_remove_and_what_changed(catalog):
    tags = SnapshotTags(catalog.path)
    change = tags.set_tags("a" * 64, ["reviewed", "keep", "nightly"], [], "op", 5)
    assert change.added == ("keep", "reviewed")  # nightly is signed already: no row
    again = tags.set_tags("a" * 64, ["keep"], ["reviewed", "never-added"], "op", 6)
    assert (again.added, again.removed) == ((), ("reviewed",))
    assert tags.added(["a" * 64, "b" * 64]) == {"a" * 64: ("keep",)}
    (record,) = tags.attach(catalog.list_snapshots()[:1])
    assert record.added_tags == ("keep",) and record.all_tags == {"keep", "nightly"}
    tags.close()


def test_signed_tags_cannot_be_removed_and_nothing_changes(catalog):
    tags = SnapshotTags(catalog.path)
    with pytest.raises(RetentionRefused, match="'nightly' was signed by the node"):
        tags.set_tags("a" * 64, ["new"], ["nightly"], "op", 5)
    assert tags.added(["a" * 64]) == {}  # the add in the same call did not happen either
    tags.close()


@pytest.mark.parametrize("bad", ["", "a,b", " pad", "tab\there", "x" * 256])
def test_bad_tags_are_refused(catalog, bad):
    with pytest.raises(InvalidRequest, match="tag"):
        tags_of(catalog).set_tags("a" * 64, [bad], [], "op", 5)


def test_unknown_snapshot_and_add_remove_conflict(catalog):
    with pytest.raises(NotFound, match="no such snapshot"):
        tags_of(catalog).set_tags("c" * 64, ["x"], [], "op", 5)
    with pytest.raises(InvalidRequest, match="both added and removed"):
        tags_of(catalog).set_tags("a" * 64, ["x"], ["x"], "op", 5)


def test_filters_match_added_tags_and_rows_go_with_the_snapshot(catalog):
    tags_of(catalog).set_tags("b" * 64, ["keep"], [], "op", 5)
    query = SnapshotQuery(tag_sets=(("keep",), ))
    assert [r.id for r in query_snapshots(catalog, query, lambda r: "")] == ["b" * 64]
    both = SnapshotQuery(tag_sets=(("keep", "nightly"),))
    assert [r.id for r in query_snapshots(catalog, both, lambda r: "")] == ["b" * 64]
    catalog.delete_snapshot("b" * 64)
    db = sqlite3.connect(catalog.path)
    assert db.execute("SELECT count(*) FROM snapshot_tags").fetchone() == (0,)


def test_a_mirror_sees_each_change_before_it_commits_and_a_failed_one_changes_nothing(catalog):
    seen = []
    tags = SnapshotTags(catalog.path, mirror=lambda sid, rows: seen.append((sid, rows)))
    tags.set_tags("a" * 64, ["keep"], [], "op", 5)
    tags.set_tags("a" * 64, ["keep"], [], "op", 6)  # nothing changes: not mirrored
    assert seen == [("a" * 64, [("keep", 5, "op")])]

    def refuse(sid, rows):
        raise OSError("bucket unreachable")

    failing = SnapshotTags(catalog.path, mirror=refuse)
    with pytest.raises(OSError, match="unreachable"):
        failing.set_tags("a" * 64, ["late"], ["keep"], "op", 7)
    assert tags.rows("a" * 64) == [("keep", 5, "op")]
    tags.restore([("b" * 64, "restored", 3, "officer")])
    assert tags.rows("b" * 64) == [("restored", 3, "officer")]
