"""agent.backup.exclude: restic's pattern rules, pattern and path files, cache tags."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulwark.agent.backup.exclude import (
    CACHEDIR_SIGNATURE,
    PathFilter,
    Pattern,
    read_files_from,
    read_patterns,
)
from bulwark.agent.errors import ConfigError


def _ex(patterns: list[str], path: str, ipatterns: tuple[str, ...] = ()) -> bool:
    return PathFilter.build(patterns, ipatterns).excludes(path)


@pytest.mark.parametrize(("pattern", "path", "excluded"), [
    ("*.tmp", "/data/x.tmp", True),
    ("*.tmp", "/data/x.tmp/inner", True),        # a match of a folder covers its contents
    ("*.tmp", "/data/x.tmpl", False),
    ("foo", "/a/foo/b", True),                   # unanchored: any depth
    ("/foo", "/a/foo", False),                   # anchored at the root
    ("/data/*", "/data/x", True),
    ("/data/*", "/data", False),
    ("/data/*/c", "/data/a/b/c", False),         # '*' never crosses '/'
    ("/data/**/c", "/data/a/b/c", True),
    ("/data/**/c", "/data/c", True),             # '**' may be no folder at all
    ("**/scratch/**", "/x/scratch/y", True),
    ("[ab].bin", "/d/a.bin", True),
    ("[ab].bin", "/d/c.bin", False),
    ("*/a/b", "/t/a/b", True),
])
def test_pattern_rules(pattern: str, path: str, excluded: bool):
    assert _ex([pattern], path) is excluded


def test_last_match_decides_and_negation_reincludes():
    pats = ["/data/*", "!/data/keep"]
    assert _ex(pats, "/data/drop") and not _ex(pats, "/data/keep")
    assert _ex(["!/data/keep", "/data/*"], "/data/keep")  # order matters


def test_iexclude_ignores_case_exclude_does_not():
    assert _ex([], "/d/Model.BIN", ("*.bin",)) and not _ex(["*.bin"], "/d/Model.BIN")


@pytest.mark.parametrize("bad", ["", "!", "/", "[ab.bin"])
def test_bad_pattern_is_a_config_error_naming_it(bad: str):
    with pytest.raises(ConfigError, match="exclude pattern"):
        Pattern.compile(bad)


def test_pattern_file_skips_comments_and_expands_variables(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("BULWARK_T", "scratch")
    f = tmp_path / "ex"
    f.write_text("# comment\n\n  *.tmp  \n/$BULWARK_T/**\n${BULWARK_T}2\n")
    assert read_patterns(f) == ["*.tmp", "/scratch/**", "scratch2"]
    f.write_text("ok\n$BULWARK_UNSET_VAR\n")
    monkeypatch.delenv("BULWARK_UNSET_VAR", raising=False)
    with pytest.raises(ConfigError, match=r"ex:2: \$BULWARK_UNSET_VAR is not set"):
        read_patterns(f)
    with pytest.raises(ConfigError, match="cannot read"):
        read_patterns(tmp_path / "missing")


def test_files_from_expands_globs_and_names_an_empty_one(tmp_path: Path):
    for n in ("a.bin", "b.bin", "c.txt"):
        (tmp_path / n).write_text(n)
    f = tmp_path / "list"
    f.write_text(f"# what to save\n{tmp_path}/*.bin\n{tmp_path}/c.txt\n")
    assert read_files_from(f) == [f"{tmp_path}/a.bin", f"{tmp_path}/b.bin", f"{tmp_path}/c.txt"]
    f.write_text(f"{tmp_path}/c.txt\n{tmp_path}/*.none\n")
    with pytest.raises(ConfigError, match=r"list:2: .*matches nothing"):
        read_files_from(f)


def test_cache_tag_keeps_only_the_tag_when_its_signature_is_valid(tmp_path: Path):
    on = PathFilter.build(exclude_caches=True)
    names = ["CACHEDIR.TAG", "blob", "sub"]
    (tmp_path / "CACHEDIR.TAG").write_bytes(CACHEDIR_SIGNATURE + b"\n# a cache\n")
    assert on.keep_children(str(tmp_path), names) == ["CACHEDIR.TAG"]
    assert PathFilter.build().keep_children(str(tmp_path), names) == names
    (tmp_path / "CACHEDIR.TAG").write_bytes(b"Signature: not the one")
    assert on.keep_children(str(tmp_path), names) == names


def test_one_file_system_stops_at_another_device():
    assert PathFilter.build(one_file_system=True).descend(7, 7)
    assert not PathFilter.build(one_file_system=True).descend(8, 7)
    assert PathFilter.build().descend(8, 7)
