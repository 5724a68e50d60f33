"""``vault-agent backup`` with restic's exclusion flags, against a real vaultd: what each
flag leaves out is absent from the stored snapshot (listed back with ``vaultctl ls``), and a
bad pattern, pattern file or path list exits 2 naming it, with nothing committed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from bulwark.agent.backup.exclude import CACHEDIR_SIGNATURE
from tests.e2e.conftest import BIN, Site, free_port
from tests.sealing import unseal_tree


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """One vaultd for the module (each test backs up its own tree)."""
    root = tmp_path_factory.mktemp("filters")
    port = free_port()
    init = subprocess.run([BIN / "vaultctl", "init", root / "site", "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    s = Site(root / "site", port)
    s.start()
    yield s
    assert s.stop() == 0
    unseal_tree(root)


def _tree(root: Path) -> Path:
    data = root / "data"
    for d in ("keep", "Logs", "cache", "scratch/deep", "mnt"):
        (data / d).mkdir(parents=True)
    for f in ("keep/a.bin", "keep/b.tmp", "Logs/x.LOG", "cache/blob", "scratch/deep/s",
              "top.txt"):
        (data / f).write_text(f)
    (data / "cache" / "CACHEDIR.TAG").write_bytes(CACHEDIR_SIGNATURE + b"\n")
    return data


def _stored(site, snapshot: str, data: Path) -> set[str]:
    listing = site.ctl("ls", snapshot, data, "--recursive", "--json")
    assert listing.code == 0, listing.err
    return {e["path"][len(str(data)) + 1:] for e in listing.json() if e["path"] != str(data)}


def test_exclude_flags_files_and_caches(site, tmp_path: Path):
    data = _tree(tmp_path)
    exfile = tmp_path / "excludes"
    exfile.write_text("# restic syntax\n/**/scratch\n")
    r = site.agent("backup", data, "--exclude", "*.tmp", "--iexclude", "*.log",
                   "--exclude-file", exfile, "--exclude-caches", "--json")
    assert r.code == 0, r.err
    assert _stored(site, r.json()["snapshot"], data) == {
        "keep", "keep/a.bin", "Logs", "cache", "cache/CACHEDIR.TAG", "mnt", "top.txt"}


def test_files_from_and_negation(site, tmp_path: Path):
    data = _tree(tmp_path)
    listing = tmp_path / "paths"
    listing.write_text(f"{data}/keep\n{data}/*.txt\n")
    r = site.agent("backup", "--files-from", listing, "--exclude", f"{data}/keep/*",
                   "--exclude", f"!{data}/keep/a.bin", "--json")
    assert r.code == 0, r.err
    assert _stored(site, r.json()["snapshot"], data) == {"keep", "keep/a.bin", "top.txt"}


def test_one_file_system_keeps_the_mount_point_empty(site, tmp_path: Path):
    data = _tree(tmp_path)
    mnt = data / "mnt"
    agent = [BIN / "vault-agent", "--config", site.agent_toml, "backup", data, "--json"]
    script = (f"mount -t tmpfs bulwark-test {mnt} && echo other > {mnt}/elsewhere && "
              '"$@"')
    out = {}
    for flag in ((), ("--one-file-system",)):
        proc = subprocess.run([shutil.which("unshare"), "--mount", "--propagation", "private",
                               "sh", "-c", script, "sh", *map(str, agent), *flag],
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        out[flag] = _stored(site, json.loads(proc.stdout)["snapshot"], data)
    assert "mnt/elsewhere" in out[()]
    assert "mnt" in out[("--one-file-system",)]
    assert "mnt/elsewhere" not in out[("--one-file-system",)]


def test_bad_input_exits_2_naming_it_and_commits_nothing(site, tmp_path: Path):
    data = _tree(tmp_path)
    before = site.ctl("snapshots", "--json").json()
    cases = [
        (("backup", data, "--exclude", "[ab"), "exclude pattern '[ab'"),
        (("backup", data, "--exclude-file", tmp_path / "nope"), "nope: cannot read"),
        (("backup", "--files-from", tmp_path / "nope"), "nope: cannot read"),
        (("backup",), "at least one PATH or --files-from"),
        (("backup", data, "--exclude-everything"), "unrecognized arguments"),
    ]
    empty = tmp_path / "empty-glob"
    empty.write_text(f"{data}/*.none\n")
    cases.append((("backup", "--files-from", empty), "empty-glob:1:"))
    for args, message in cases:
        r = site.agent(*args)
        assert r.code == 2 and message in r.err, (args, r.code, r.err)
    assert site.ctl("snapshots", "--json").json() == before
