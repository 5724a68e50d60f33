"""agent.backup.scanner: the lazy walk comes out in manifest order, parents first, no repeats."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulwark.agent.backup.scanner import scan
from bulwark.agent.errors import ConfigError
from bulwark.agent.format.manifest import EntryType, path_sort_key


def _tree(root: Path) -> None:
    # Names whose component order differs from plain string order of the whole path:
    # 'a' < 'a/b' < 'a-b' < 'a.txt' component-wise, while '-' (0x2d) and '.' (0x2e) sort
    # before '/' (0x2f) as characters of one string.
    for d in ("a", "a/b", "a-b", "a/b/c", "z", "Z", "é"):
        (root / d).mkdir(parents=True)
    for f in ("a.txt", "a/b.txt", "a/b/c/d", "a/b-c", "a-b/x", "a0", "z/0", "é/n", "Z/m"):
        (root / f).write_bytes(f.encode())
    (root / "a/link").symlink_to("../a.txt")
    os.mkfifo(root / "fifo")
    (root / os.fsdecode(b"raw\xff")).write_bytes(b"not utf-8")


def _rels(items) -> list[str]:
    return [i.rel for i in items]


def test_order_is_manifest_order(tmp_path: Path):
    _tree(tmp_path)
    rels = _rels(scan([str(tmp_path)]))
    assert rels == sorted(rels, key=path_sort_key)
    assert len(rels) == len(set(rels))
    base = str(tmp_path).lstrip("/")
    everything = {base}
    for directory, dirs, files in os.walk(tmp_path):
        everything.update(os.path.join(directory, n).lstrip("/") for n in dirs + files)
    assert set(rels) == everything | {"/".join(base.split("/")[:i + 1])
                                      for i in range(base.count("/"))}
    under = [r[len(base) + 1:] for r in rels if r.startswith(base + "/")]
    assert under[:7] == ["Z", "Z/m", "a", "a/b", "a/b/c", "a/b/c/d", "a/b-c"]
    assert under.index("a/b.txt") < under.index("a/link") < under.index("a-b")
    assert under.index("a-b/x") < under.index("a.txt") < under.index("a0")


def test_parents_come_first_and_each_once(tmp_path: Path):
    _tree(tmp_path)
    skipped = []
    items = list(scan([str(tmp_path / "a" / "b"), str(tmp_path / "a.txt"), str(tmp_path / "a")],
                      on_skip=lambda p, r: skipped.append(p)))
    rels = _rels(items)
    assert rels == sorted(rels, key=path_sort_key) and len(rels) == len(set(rels))
    parents = str(tmp_path).lstrip("/").split("/")
    assert rels[: len(parents)] == ["/".join(parents[: i + 1]) for i in range(len(parents))]
    assert all(i.type is EntryType.DIR for i in items[: len(parents)])
    base = str(tmp_path).lstrip("/")
    assert f"{base}/a.txt" in rels and f"{base}/a/b/c/d" in rels and f"{base}/a/link" in rels
    assert f"{base}/a-b" not in rels and not skipped  # the fifo is not under these paths


def test_types_exclusions_and_skips(tmp_path: Path):
    _tree(tmp_path)
    skipped = []
    items = {i.rel.rsplit("/", 1)[-1]: i
             for i in scan([str(tmp_path)], on_skip=lambda p, r: skipped.append(p),
                           exclude=["*/a/b"])}
    assert items["link"].type is EntryType.SYMLINK and items["link"].link_target == "../a.txt"
    assert items["a.txt"].type is EntryType.FILE and items["a.txt"].size == len(b"a.txt")
    assert os.fsdecode(b"raw\xff") in items
    assert "a-b" in items and "x" in items and "b.txt" in items
    assert "b" not in items and "c" not in items and "d" not in items  # a/b, not descended
    assert items["fifo"].type is EntryType.FIFO  # stored as what it is (issue 13)
    assert not skipped


def test_missing_path_raises_before_anything_is_yielded(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist"):
        scan([str(tmp_path), str(tmp_path / "nope")])
