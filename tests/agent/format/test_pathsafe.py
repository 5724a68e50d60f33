from __future__ import annotations

import os
from pathlib import Path

import pytest

from bulwark.agent.errors import UnsafePathError
from bulwark.agent.format.pathsafe import check_manifest_path, ensure_within, target_path

BAD = {
    "": "empty",
    "/etc/passwd": "absolute",
    "/": "absolute",
    "a/../../etc": "'..'",
    "..": "'..'",
    "../x": "'..'",
    "a/..": "'..'",
    ".": "'.'",
    "./a": "'.'",
    "a/./b": "'.'",
    "a//b": "empty component",
    "a/": "ends with",
    "a\x00b": "NUL",
}


@pytest.mark.parametrize("path, reason", BAD.items())
def test_bad_paths(path: str, reason: str):
    with pytest.raises(UnsafePathError, match=reason):
        check_manifest_path(path)


@pytest.mark.parametrize("path", ["a", "a/b/c", "..a", "a..", ".hidden", "a/.b", "with space",
                                  "back\\slash", os.fsdecode(b"caf\xe9"), "日本/語"])
def test_good_paths(path: str):
    assert check_manifest_path(path) == path


def test_target_path(tmp_path: Path):
    assert target_path(tmp_path, "a/b") == tmp_path / "a" / "b"
    with pytest.raises(UnsafePathError):
        target_path(tmp_path, "../b")


def test_ensure_within_symlink_escape(tmp_path: Path):
    target = tmp_path / "restore"
    outside = tmp_path / "outside"
    target.mkdir()
    outside.mkdir()
    (target / "dir").mkdir()
    ensure_within(target, target / "dir" / "file")
    ensure_within(target, target / "file")
    (target / "evil").symlink_to(outside)
    with pytest.raises(UnsafePathError, match="outside the restore target"):
        ensure_within(target, target / "evil" / "file")
    # a sibling whose name shares the target's prefix is still outside
    (tmp_path / "restore2").mkdir()
    (target / "sib").symlink_to(tmp_path / "restore2")
    with pytest.raises(UnsafePathError):
        ensure_within(target, target / "sib" / "x")


def test_ensure_within_target_behind_symlink(tmp_path: Path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    ensure_within(link, link / "a")
