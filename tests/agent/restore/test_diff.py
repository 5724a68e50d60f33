"""diff over two manifest streams: merge order, content vs metadata, changed chunk bytes."""

from __future__ import annotations

from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType
from bulwark.agent.restore.diff import DiffTotals, diff_entries

ONE, TWO, THREE = (ChunkRef(bytes([n]) * 32, b"k" * 32, 1000) for n in (1, 2, 3))


def file(path, chunks=(ONE, TWO), mode=0o644, mtime=0, hash=b"h" * 32, **kw) -> Entry:
    return Entry(path=path, type=EntryType.FILE, mode=mode, mtime_ns=mtime,
                 size=sum(c.size for c in chunks), content_hash=hash, chunks=chunks, **kw)


def folder(path) -> Entry:
    return Entry(path=path, type=EntryType.DIR, mode=0o755, mtime_ns=0)


def changes(old, new):
    return [(c.kind, c.path, c.bytes) for c in diff_entries(old, new)]


def test_added_removed_modified_metadata():
    old = [folder("d"), file("d/a"), file("d/b"), file("d/c"), file("d/sub")]
    new = [folder("d"), file("d/a", chunks=(ONE, THREE), hash=b"x" * 32), file("d/b", mode=0o600),
           file("d/d"), folder("d/sub")]
    assert changes(old, new) == [
        ("modified", "d/a", 1000),  # only the chunk the old version lacks
        ("metadata", "d/b", 0),
        ("removed", "d/c", 2000),
        ("added", "d/d", 2000),
        ("modified", "d/sub", 0),  # a file became a directory
    ]
    assert changes(new, new) == []


def test_order_is_manifest_order_not_string_order():
    # 'a/b' sorts before 'a.txt' by components, although '.' < '/' as characters
    old = [folder("a"), file("a/b")]
    new = [folder("a"), file("a/b"), file("a.txt")]
    assert changes(old, new) == [("added", "a.txt", 2000)]


def test_packed_file_counts_its_size_and_totals_add_up():
    pack = ChunkRef(b"p" * 32, b"k" * 32, 5000)
    old = [Entry(path="s", type=EntryType.FILE, mode=0o644, mtime_ns=0, size=10,
                 content_hash=b"a" * 32, chunks=(pack,), offset=20)]
    new = [Entry(path="s", type=EntryType.FILE, mode=0o644, mtime_ns=0, size=12,
                 content_hash=b"b" * 32, chunks=(pack,), offset=40)]
    totals = DiffTotals()
    for change in diff_entries(old, new):
        totals.add(change)
    assert totals.summary()["modified"] == {"entries": 1, "bytes": 12}
    assert totals.summary()["metadata"] == {"entries": 0}
