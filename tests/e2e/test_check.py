"""``vaultctl check`` against a real vaultd: catalog and store agree after a backup; a blob
without a row is reclaimable, not a disagreement; a damaged or missing blob exits 1 naming
the chunk."""

from __future__ import annotations

import os
import subprocess

from tests.e2e.treeutil import make_tree


def blobs(site) -> list:
    return sorted(p for p in (site.store / "data").rglob("*") if p.is_file())


def writable(path) -> None:
    subprocess.run(["chattr", "-i", str(path)], capture_output=True)  # root's fs store seals
    os.chmod(path, 0o644)


def test_check_agrees_then_names_damage_and_reclaimable_blobs(site, tmp_path):
    site.backup(make_tree(tmp_path / "src"))
    ok = site.ctl("check", "--json")
    assert ok.code == 0, ok.err
    report = ok.json()
    assert report["agree"] and report["problem_count"] == 0
    assert report["chunks"] == report["blobs"] == len(blobs(site)) > 0
    assert report["snapshots"] == 1

    damaged, gone = blobs(site)[:2]
    orphan = site.store / "data" / "ab" / "ab" / ("ab" * 32)  # the store's fan-out
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a crash")
    writable(damaged)
    damaged.write_bytes(damaged.read_bytes()[:-1] + b"\0")
    writable(gone)
    gone.unlink()
    bad = site.ctl("check", "--json")
    assert bad.code == 1, bad.err
    report = bad.json()
    assert not report["agree"] and report["problem_count"] == 2
    kinds = {p["kind"]: p for p in report["problems"]}
    assert set(kinds) == {"digest", "missing"}
    assert kinds["digest"]["chunk"] == damaged.name and kinds["missing"]["chunk"] == gone.name
    assert report["reclaimable"] == ["ab" * 32] and report["reclaimable_count"] == 1
    text = site.ctl("check")
    assert text.code == 1 and "DISAGREE: 2 problem(s)" in text.out and gone.name in text.out


def test_check_is_refused_to_a_node(site):
    refused = site.ctl("check", config=site.agent_toml)
    assert refused.code == 2, refused.err
    assert "PERMISSION_DENIED" in refused.err or "not allowed" in refused.err.lower() \
        or "role" in refused.err
