"""Catalog: chunk rows, all-or-nothing commits, snapshot references."""

from __future__ import annotations

import os
import sqlite3

import pytest

from bulwark.vault.catalog.db import (
    BATCH,
    WAL_FOLD_BYTES,
    Catalog,
    SnapshotRecord,
    snapshot_id,
)
from bulwark.vault.catalog.schema import SCHEMA_VERSION
from bulwark.vault.errors import InvalidRequest, MissingChunks, NotFound, StorageError
from tests.lib.clock import FakeClock as _FakeClock


def FakeClock(t: int = 1_700_000_000_000_000_000) -> _FakeClock:
    return _FakeClock(t, step=1)


@pytest.fixture
def catalog(tmp_path):
    cat = Catalog(tmp_path / "catalog.sqlite", clock=FakeClock())
    yield cat
    cat.close()


def ids(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]


def record(id: str, time_ns: int, node: str = "gpu-01") -> SnapshotRecord:
    return SnapshotRecord(
        id=id, time_ns=time_ns, node=node, header=b"hdr\0" + id.encode(), signature=b"s" * 64,
        tags=("daily",), paths=("/ckpt",), files=3, bytes=300, chunk_count=0,
    )


def test_pragmas(catalog):
    db = sqlite3.connect(catalog.path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("SELECT version FROM schema_version").fetchone()[0] == SCHEMA_VERSION == 2
    db.close()


def test_record_and_missing_across_batches(catalog):
    held = ids(BATCH + 7)
    catalog.record_chunks([(c, 10, b"d" * 32) for c in held])
    absent = ids(3)
    query = [absent[0], *held, absent[1], absent[2], absent[1]]
    assert catalog.missing_chunks(query) == [absent[0], absent[1], absent[2], absent[1]]
    assert catalog.chunk_digest(held[0]) == b"d" * 32
    with pytest.raises(NotFound):
        catalog.chunk_digest(absent[0])


def test_record_keeps_first_row(catalog):
    (c,) = ids(1)
    catalog.record_chunks([(c, 10, b"a" * 32)])
    catalog.record_chunks([(c, 11, b"b" * 32)])
    assert catalog.chunk_digest(c) == b"a" * 32


def test_commit_with_missing_chunk_leaves_zero_rows(catalog):
    held, absent = ids(10), ids(2)
    catalog.record_chunks([(c, 1, b"d" * 32) for c in held])
    with pytest.raises(MissingChunks) as err:
        catalog.commit_snapshot(record("aa" * 32, 1), held + absent)
    assert err.value.count == 2
    assert set(err.value.first) == set(absent)
    assert absent[0].hex() in str(err.value)
    assert catalog.list_snapshots() == []
    db = sqlite3.connect(catalog.path)
    assert db.execute("SELECT count(*) FROM snapshot_chunks").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM snapshots").fetchone()[0] == 0
    db.close()


def test_commit_and_references(catalog):
    chunks = ids(3)
    catalog.record_chunks([(c, 1, b"d" * 32) for c in chunks])
    r1 = catalog.commit_snapshot(record("a1" * 32, 2), chunks[:2] + chunks[:1])
    r2 = catalog.commit_snapshot(record("b2" * 32, 1), chunks[1:])
    assert [r.id for r in catalog.list_snapshots()] == [r2.id, r1.id]
    assert catalog.snapshots_referencing(chunks[1]) == [r2.id, r1.id]
    assert catalog.snapshots_referencing(chunks[0]) == [r1.id]
    assert catalog.resolve(r1.id) == r1


def test_chunk_locks_and_held_chunks_across_batches(catalog):
    """The seam the S3 bucket layer uses: locks by reference per chunk, and the chunks a
    held snapshot other than the given one references."""
    from dataclasses import replace

    from bulwark.vault.worm.retention import Retention

    chunks = ids(BATCH + 3)
    catalog.record_chunks([(c, 1, b"d" * 32) for c in chunks])
    early = replace(record("a1" * 32, 1), retention=Retention("governance", 100))
    late = replace(record("b2" * 32, 2), retention=Retention("governance", 300))
    catalog.commit_snapshot(early, chunks[:-1])
    catalog.commit_snapshot(late, chunks[BATCH:-1])
    unreferenced = chunks[-1]
    locks = catalog.chunk_locks([*chunks, *ids(1)])
    assert set(locks) == set(chunks[:-1])
    assert locks[chunks[0]] == 100 and locks[chunks[BATCH]] == 300
    assert unreferenced not in locks

    assert catalog.held_chunks(chunks) == set()
    catalog.set_legal_hold(late.id, True, "case 1")
    assert catalog.held_chunks(chunks) == set(chunks[BATCH:-1])
    assert catalog.held_chunks(chunks, excluding=late.id) == set()
    catalog.set_legal_hold(early.id, True, "case 2")
    assert catalog.held_chunks(chunks, excluding=late.id) == set(chunks[:-1])


def test_duplicate_snapshot_id_is_refused(catalog):
    catalog.commit_snapshot(record("a1" * 32, 1), [])
    with pytest.raises(StorageError):
        catalog.commit_snapshot(record("a1" * 32, 2), [])
    assert len(catalog.list_snapshots()) == 1


def test_resolve_rules(catalog):
    a = catalog.commit_snapshot(record("ab12" + "0" * 60, 1, node="n1"), [])
    b = catalog.commit_snapshot(record("ab34" + "0" * 60, 3, node="n1"), [])
    c = catalog.commit_snapshot(record("cd56" + "0" * 60, 2, node="n2"), [])
    assert catalog.resolve(a.id) == a
    assert catalog.resolve("ab1") == a
    assert catalog.resolve("c") == c
    assert catalog.resolve("latest") == b
    assert catalog.resolve("latest", node="n2") == c
    with pytest.raises(InvalidRequest, match="ambiguous: 2 snapshots match"):
        catalog.resolve("ab")
    with pytest.raises(NotFound):
        catalog.resolve("ef")
    with pytest.raises(NotFound):
        catalog.resolve("ab", node="n2")
    with pytest.raises(NotFound):
        catalog.resolve("latest", node="n3")
    for bad in ("", "AB12", "xyz", "../etc", "a" * 65):
        with pytest.raises(InvalidRequest):
            catalog.resolve(bad)
    assert [r.id for r in catalog.list_snapshots(node="n1")] == [a.id, b.id]


def test_latest_on_empty_catalog_is_not_found(catalog):
    with pytest.raises(NotFound):
        catalog.resolve("latest")


def test_snapshot_id_is_stable_and_binds_time():
    a = snapshot_id(b"h", b"s", 1)
    assert len(a) == 64 and a == snapshot_id(b"h", b"s", 1)
    assert a != snapshot_id(b"h", b"s", 2)
    assert a != snapshot_id(b"h", b"t", 1)


def test_reopen_keeps_data(tmp_path):
    cat = Catalog(tmp_path / "c.sqlite")
    cat.commit_snapshot(record("a1" * 32, 1), [])
    cat.close()
    again = Catalog(tmp_path / "c.sqlite")
    assert len(again.list_snapshots()) == 1
    again.close()


def test_leases_in_memory_drops_the_lease_rows_of_an_older_catalog(tmp_path):
    """Migration ``leases-in-memory``: the one-row-per-chunk lease table of an older vaultd
    goes (vault.ingest.leases; a restarted vaultd leases every chunk for lease_hours instead)."""
    Catalog(tmp_path / "catalog.sqlite", clock=FakeClock()).close()
    db = sqlite3.connect(tmp_path / "catalog.sqlite")  # as the previous release left it
    db.execute("CREATE TABLE chunk_leases (chunk_id BLOB PRIMARY KEY,"
               " lease_until_ns INTEGER NOT NULL) WITHOUT ROWID")
    db.execute("INSERT INTO chunk_leases VALUES (?, 1)", (os.urandom(32),))
    db.execute("DELETE FROM catalog_migrations WHERE name = 'leases-in-memory'")
    db.commit()
    db.close()
    Catalog(tmp_path / "catalog.sqlite", clock=FakeClock()).close()
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    applied = {name for (name,) in db.execute("SELECT name FROM catalog_migrations")}
    db.close()
    assert "chunk_leases" not in tables and "leases-in-memory" in applied


def test_a_catalog_written_by_a_newer_vaultd_is_refused(tmp_path):
    """A migration this vaultd does not know means a newer vaultd wrote the file: refuse it
    with the reason, never half-understand it."""
    import sqlite3

    from bulwark.vault.errors import StorageError

    Catalog(tmp_path / "catalog.sqlite", clock=FakeClock()).close()
    db = sqlite3.connect(tmp_path / "catalog.sqlite")
    db.execute("INSERT INTO catalog_migrations VALUES ('from-the-future', 1)")
    db.commit()
    db.close()
    with pytest.raises(StorageError, match="newer vaultd.*from-the-future"):
        Catalog(tmp_path / "catalog.sqlite", clock=FakeClock())


def _model_new(refs: dict[str, dict[str, set[bytes]]], node: str, asked: list[bytes]) -> int:
    """The new-chunk count from first principles: ids no live snapshot of ``node`` names."""
    known = set().union(*refs.get(node, {}).values())
    return len(set(asked) - known)


def test_new_chunk_count_and_node_isolation_stay_exact_through_commits_deletes_and_prune(
        catalog):
    """node_chunks counts each node's references per chunk: a chunk stays "known" to a node
    while any of its live snapshots references it, and only until the last one goes, whether
    by delete_snapshot (forget) or delete_expired (prune); another node's references never
    count."""
    pool = ids(BATCH + 40)
    catalog.record_chunks([(c, 1, b"d" * 32) for c in pool])
    shared, a_only, b_only = pool[:BATCH + 10], pool[BATCH + 10:BATCH + 20], pool[BATCH + 20:]
    refs: dict[str, dict[str, set[bytes]]] = {"n1": {}, "n2": {}}
    plan = [("a1" * 32, "n1", shared + a_only[:5]), ("a2" * 32, "n1", shared[:3] + a_only),
            ("a3" * 32, "n1", shared[:1]), ("b1" * 32, "n2", shared[5:] + b_only)]
    for t, (sid, node, chunks) in enumerate(plan, 1):
        catalog.commit_snapshot(record(sid, t, node=node), chunks + chunks[:2])  # repeats too
        refs[node][sid] = set(chunks)

    def check() -> None:
        for node in refs:
            for asked in (pool, shared[:7], a_only + b_only, ids(3) + pool[:2]):
                assert catalog.new_chunk_count(node, asked) == _model_new(refs, node, asked)
            known = set().union(*refs[node].values())
            assert catalog.chunks_of_node(node, pool) == known
        db = sqlite3.connect(catalog.path)
        assert db.execute("SELECT count(*) FROM node_chunks WHERE refs <= 0").fetchone()[0] == 0
        db.close()

    check()
    catalog.delete_snapshot("a1" * 32)  # forget: shared[3:] leave n1, shared[:3] stay
    del refs["n1"]["a1" * 32]
    check()
    assert catalog.delete_expired(["a2" * 32], now_ns=10) == ["a2" * 32]  # prune
    del refs["n1"]["a2" * 32]
    check()
    assert catalog.new_chunk_count("n1", shared[:3]) == 2  # only a3's chunk is still known
    catalog.delete_snapshot("a3" * 32)
    del refs["n1"]["a3" * 32]
    check()
    assert catalog.new_chunk_count("n1", pool) == len(pool)
    assert catalog.new_chunk_count("n2", pool) == 15  # shared[:5] and a_only; n2 untouched


def test_node_chunks_migration_backfills_a_catalog_the_previous_schema_wrote(tmp_path):
    """Migration ``node-chunks`` on a catalog written before it: the table is filled from the
    references already there, with counts that later deletions bring down exactly."""
    path = tmp_path / "catalog.sqlite"
    cat = Catalog(path, clock=FakeClock())
    chunks = ids(6)
    cat.record_chunks([(c, 1, b"d" * 32) for c in chunks])
    cat.commit_snapshot(record("a1" * 32, 1, node="n1"), chunks[:4])
    cat.commit_snapshot(record("a2" * 32, 2, node="n1"), chunks[2:5])
    cat.commit_snapshot(record("b1" * 32, 3, node="n2"), chunks[4:])
    cat.close()
    db = sqlite3.connect(path)  # as the previous release left it: no table, step not applied
    db.execute("DROP TABLE node_chunks")
    db.execute("DELETE FROM catalog_migrations WHERE name = 'node-chunks'")
    db.commit()
    db.close()

    cat = Catalog(path, clock=FakeClock())
    try:
        assert cat.chunks_of_node("n1", chunks) == set(chunks[:5])
        assert cat.chunks_of_node("n2", chunks) == set(chunks[4:])
        assert cat.new_chunk_count("n1", chunks) == 1
        cat.delete_snapshot("a1" * 32)  # chunks[2:4] are a2's too: their count was 2
        assert cat.chunks_of_node("n1", chunks) == set(chunks[2:5])
        cat.delete_snapshot("a2" * 32)
        assert cat.chunks_of_node("n1", chunks) == set()
        assert cat.chunks_of_node("n2", chunks) == set(chunks[4:])
    finally:
        cat.close()
    db = sqlite3.connect(path)
    applied = {name for (name,) in db.execute("SELECT name FROM catalog_migrations")}
    db.close()
    assert "node-chunks" in applied




def test_forget_chunks_deletes_exactly_the_candidates_among_the_ids_it_is_given(catalog):
    """Prune's delete step checks the candidate rule for its batch only: of the ids given,
    chunks a live snapshot references (one a candidate until a new commit referenced it
    again), one leased to an upload and one the catalog never held stay; a candidate outside
    the batch stays for its own batch."""
    from dataclasses import replace

    from bulwark.vault.worm.retention import Retention

    free, referenced, locked, leased, other, unknown = ids(6)
    catalog.record_chunks([(c, 7, b"d" * 32) for c in (free, referenced, locked, other)])
    catalog.record_chunks([(leased, 7, b"d" * 32)], lease_until_ns=1_000)
    catalog.commit_snapshot(record("a1" * 32, 1), [referenced])
    catalog.commit_snapshot(replace(record("b2" * 32, 2), retention=Retention("governance",
                                                                              500)), [locked])
    catalog.delete_snapshot("a1" * 32)  # its chunk is a candidate now, but not in the batch
    now = 100
    assert [c for c, _ in catalog.gc_candidates(now)] == sorted([free, other, referenced])
    catalog.commit_snapshot(record("c3" * 32, 3), [referenced])  # referenced again
    batch = [unknown, leased, locked, referenced, free, free]
    assert catalog.forget_chunks(batch, now) == [(free, 7)]
    assert not catalog.has_chunk(free)
    assert all(catalog.has_chunk(c) for c in (referenced, locked, leased, other))
    assert [c for c, _ in catalog.gc_candidates(now)] == [other]
    assert catalog.forget_chunks([other], now) == [(other, 7)]


def test_a_snapshot_commit_leaves_the_wal_empty_and_the_catalog_whole(tmp_path):
    """A backup's transactions leave page versions in the WAL; the snapshot commit folds
    them into the database and truncates the WAL, losing nothing."""
    path = tmp_path / "catalog.sqlite"
    cat = Catalog(path, clock=FakeClock())
    chunks = ids(300)
    for i in range(0, 300, 10):  # many short transactions, as a backup's uploads make
        cat.record_chunks([(c, 1, b"d" * 32) for c in chunks[i : i + 10]])
    wal = tmp_path / "catalog.sqlite-wal"
    assert wal.stat().st_size >= WAL_FOLD_BYTES
    cat.commit_snapshot(record("a1" * 32, 2), chunks)
    assert wal.stat().st_size == 0
    cat.close()
    other = Catalog(path, clock=FakeClock())
    assert other.missing_chunks(chunks) == []
    assert sorted(other.snapshot_chunk_ids("a1" * 32)) == sorted(chunks)
    other.close()
