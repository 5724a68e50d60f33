"""ls and find over a manifest entry stream: subtree selection, early stop, patterns."""

from __future__ import annotations

import pytest

from bulwark.agent.errors import SnapshotNotFound, UsageError
from bulwark.agent.format.manifest import Entry, EntryType
from bulwark.agent.restore.listing import (
    list_entries,
    manifest_path,
    matcher,
    mode_text,
    shown,
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
