"""ls and find over a manifest entry stream: subtree selection, early stop, patterns, and the
stored bytes ``ls --long`` shows per file."""

from __future__ import annotations

import pytest

from bulwark.agent.errors import ConfigError, SnapshotNotFound, UsageError
from bulwark.agent.format.manifest import ChunkRef, Entry, EntryType
from bulwark.agent.restore.listing import (
    Listed,
    list_entries,
    manifest_path,
    matcher,
    mode_text,
    shown,
    stored_share,
    with_stored,
)

PATHS = ["data", "data/a", "data/a/x.bin", "data/b.txt", "data/bad\udcffname", "etc", "etc/z"]


def entries(paths=PATHS):
    for p in paths:
        kind = EntryType.DIR if p in ("data", "data/a", "etc") else EntryType.FILE
        yield Entry(path=p, type=kind, mode=0o755 if kind is EntryType.DIR else 0o644,
                    mtime_ns=0)


def listed(path, recursive=False, source=None):
    return [e.path for e in list_entries(source or entries(), path, recursive)]


def test_children_or_subtree():
    assert listed("") == ["data", "etc"]
    assert listed("data") == ["data", "data/a", "data/b.txt", "data/bad\udcffname"]
    assert listed("data", recursive=True) == PATHS[:5]
    assert listed("data/b.txt") == ["data/b.txt"]


def test_stops_reading_after_the_subtree():
    seen = []

    def source():
        for e in entries():
            seen.append(e.path)
            yield e

    assert listed("data/a", recursive=True, source=source()) == ["data/a", "data/a/x.bin"]
    assert seen == ["data", "data/a", "data/a/x.bin", "data/b.txt"]


def test_missing_path_and_bad_path():
    with pytest.raises(SnapshotNotFound, match="/data/nope"):
        listed("data/nope")
    assert manifest_path("/data/a/") == manifest_path("data/a") == "data/a"
    with pytest.raises(UsageError, match="x/../y"):
        manifest_path("x/../y")


def test_shown_escapes_bytes_that_are_not_utf8():
    assert shown("data/bad\udcffname") == "/data/bad\\xffname"
    assert mode_text(next(entries(["data"]))) == "drwxr-xr-x"


def test_what_ls_shows_is_what_ls_path_and_restore_path_read_back():
    """A literal backslash-x-4-1 in a name is not the letter A, and a byte that is not UTF-8
    comes back as that byte (issue 13: backslashreplace printed both as ``\\x..``)."""
    literal, letter, bad = "data/lit\\x41", "data/litA", "data/bad\udcffname"
    assert shown(literal) == "/data/lit\\\\x41" and shown(letter) == "/data/litA"
    for path in (literal, letter, bad, "data/new\nline"):
        assert manifest_path(shown(path)) == path
    link = Entry(path="l", type=EntryType.SYMLINK, mode=0o777, mtime_ns=0,
                 link_target="to\\x41\udcfe")
    assert Listed(link).summary()["link_target"] == "to\\\\x41\\xfe"
    with pytest.raises(ConfigError, match="^PATH .*: the backslash at position 7 starts nei"):
        manifest_path("/data/a\\qb")


def test_find_patterns_match_the_shown_form():
    source = ["data", "data/lit\\x41", "data/litA"]
    names = [e.path for e in entries(source) if matcher(["lit\\\\x41"])(e)]
    assert names == ["data/lit\\x41"]


def test_patterns_match_name_or_whole_path():
    names = lambda *p, **kw: [e.path for e in entries() if matcher(p, **kw)(e)]  # noqa: E731
    assert names("*.bin") == ["data/a/x.bin"]
    assert names("/data/*.txt") == ["data/b.txt"]
    assert names("X.BIN") == [] and names("X.BIN", ignore_case=True) == ["data/a/x.bin"]
    assert names("[ez]") == ["etc/z"]
    assert names("bad\\xffname") == ["data/bad\udcffname"]  # patterns see the shown form
    for bad in ("", "[ab", "x[!"):
        with pytest.raises(UsageError):
            matcher([bad])


def _ref(n: int, size: int) -> ChunkRef:
    return ChunkRef(bytes([n]) * 32, b"k" * 32, size)


def test_stored_share_whole_chunks_packs_and_repeats():
    a, b = _ref(1, 1000), _ref(2, 500)
    blobs = {a.id: 400, b.id: 600}
    whole = Entry("f", EntryType.FILE, 0o644, 0, size=1500, chunks=(a, b))
    assert stored_share(whole, blobs) == 1000
    packed = Entry("p", EntryType.FILE, 0o644, 0, size=250, offset=100, chunks=(a,))
    assert stored_share(packed, blobs) == 100  # a quarter of a's plaintext, of its blob
    zeros = Entry("z", EntryType.FILE, 0o644, 0, size=2000, chunks=(a, a))
    assert stored_share(zeros, blobs) == 400  # a repeated chunk is stored once
    assert stored_share(whole, {}) == 0  # the vault does not hold them


def test_with_stored_asks_in_bounded_batches_and_keeps_order():
    files = [Entry(f"f{i}", EntryType.FILE, 0o644, 0, size=10, chunks=(_ref(i, 10),))
             for i in range(7)]
    asked: list[list[bytes]] = []

    def lookup(ids):
        asked.append(ids)
        return dict.fromkeys(ids, 5)

    out = list(with_stored(files, lookup, batch_ids=3))
    assert [e.path for e, _ in out] == [f.path for f in files]
    assert [s for _, s in out] == [5] * 7
    assert [len(ids) for ids in asked] == [3, 3, 1]
