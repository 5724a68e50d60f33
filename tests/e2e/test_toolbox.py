"""The operator's toolbox against a real vaultd over mTLS: ls, find, diff, snapshot selection
(``latest`` narrowed by node, tag and path), the streamed ``snapshots`` listing and its
filters, and ``restore --path`` with the paths ``ls`` shows.

One site and three snapshots serve the whole module (one vaultd start): snapshot 1 and 2 back
up ``data`` (tag nightly) before and after a set of changes, snapshot 3 only ``data/sub``
(tag adhoc), so a plain ``latest`` is the narrow one.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.e2e.conftest import BIN, Site, free_port
from tests.sealing import unseal_tree

BIG = 9 << 20  # over twice CHUNK_MAX: 3+ chunks; a change in its tail leaves the first shared


@pytest.fixture(scope="module")
def toolbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("toolbox")
    port = free_port()
    init = subprocess.run([BIN / "vaultctl", "init", root / "site", "--port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    site = Site(root / "site", port)
    site.start()
    data = root / "data"
    (data / "sub").mkdir(parents=True)
    big = bytearray(os.urandom(BIG))
    (data / "big.bin").write_bytes(big)
    (data / "one.bin").write_bytes(b"one")
    (data / "sub" / "b.txt").write_text("bee")
    os.utime(data / "sub" / "b.txt", ns=(1_600_000_000_000_000_000,) * 2)
    first = site.backup(data, tags=("nightly",))["snapshot"]
    big[-100:] = os.urandom(100)
    (data / "big.bin").write_bytes(big)
    (data / "one.bin").unlink()
    (data / "c.txt").write_text("sea")
    os.chmod(data / "sub" / "b.txt", 0o600)
    os.utime(data / "sub" / "b.txt", ns=(1_600_000_000_000_000_000,) * 2)
    second = site.backup(data, tags=("nightly",))["snapshot"]
    third = site.backup(data / "sub", tags=("adhoc",))["snapshot"]
    yield site, data, (first, second, third)
    site.stop()
    unseal_tree(root)


def test_ls_lists_children_or_everything(toolbox):
    site, data, (first, *_rest) = toolbox
    top = site.ctl("ls", first, data, "--json")
    assert top.code == 0, top.err
    assert [e["path"] for e in top.json()] == [
        str(data), str(data / "big.bin"), str(data / "one.bin"), str(data / "sub")]
    assert {e["type"] for e in top.json()} == {"dir", "file"}
    deep = site.ctl("ls", first, data, "--recursive", "--long", "--json").json()
    by_path = {e["path"]: e for e in deep}
    assert by_path[str(data / "sub" / "b.txt")]["size"] == 3
    assert by_path[str(data / "big.bin")]["chunks"] >= 2
    assert by_path[str(data / "sub" / "b.txt")]["packed"] is True
    # stored bytes from the vault's blob sizes: random data stores at its size plus the
    # blobs' headers and tags; a 3-byte packed file, its slice of the pack's blob
    big = by_path[str(data / "big.bin")]
    assert BIG < big["stored"] < BIG + 64 * big["chunks"]
    assert 0 < by_path[str(data / "sub" / "b.txt")]["stored"] < 64
    assert by_path[str(data / "sub")]["stored"] == 0
    total = sum(e["stored"] for e in deep)
    stats = site.ctl("stats", first, "--json").json()["snapshot"]
    assert total <= stats["stored_bytes"]  # the manifest's blobs are not any file's
    # relative to the snapshot's root names the same entries
    relative = site.ctl("ls", first, str(data).lstrip("/"), "--json").json()
    assert relative == top.json()
    text = site.ctl("ls", first, data / "sub", "--long")
    assert text.code == 0 and "-rw-" in text.out and str(data / "sub" / "b.txt") in text.out


def test_ls_refuses_what_is_not_there(toolbox):
    site, data, (first, *_rest) = toolbox
    missing = site.ctl("ls", first, data / "nope")
    assert missing.code == 1 and "nope" in missing.err and "not in this snapshot" in missing.err
    bad = site.ctl("ls", first, "a/../b")
    assert bad.code == 2 and "a/../b" in bad.err
    unknown = site.ctl("ls", "ffffffff")
    assert unknown.code == 1 and "ffffffff" in unknown.err


def test_find_searches_newest_first(toolbox):
    site, data, (first, second, third) = toolbox
    found = site.ctl("find", "*.bin", "--json")
    assert found.code == 0, found.err
    hits = [(m["snapshot"], m["path"]) for m in found.json()]
    assert hits == [(second, str(data / "big.bin")), (first, str(data / "big.bin")),
                    (first, str(data / "one.bin"))]
    newest = site.ctl("find", "B.TXT", "-i", "--newest", "1", "--json").json()
    assert [(m["snapshot"], m["path"]) for m in newest] == [(third, str(data / "sub" / "b.txt"))]
    whole = site.ctl("find", f"{data}/sub/*", "--snapshot", first, "--json").json()
    assert [m["path"] for m in whole] == [str(data / "sub" / "b.txt")]
    bad = site.ctl("find", "[ab")
    assert bad.code == 2 and "[ab" in bad.err


def test_diff_counts_changed_chunks_not_files(toolbox):
    site, data, (first, second, _third) = toolbox
    result = site.ctl("diff", first, second, "--json")
    assert result.code == 0, result.err
    doc = result.json()
    changes = {c["path"]: (c["change"], c["bytes"]) for c in doc["changes"]}
    assert changes[str(data / "c.txt")] == ("added", 3)
    assert changes[str(data / "one.bin")] == ("removed", 3)
    assert changes[str(data / "sub" / "b.txt")] == ("metadata", 0)
    kind, changed = changes[str(data / "big.bin")]
    assert kind == "modified" and 0 < changed < BIG
    assert doc["totals"]["modified"] == {"entries": 1, "bytes": changed}
    same = site.ctl("diff", second, second, "--json").json()
    assert same["changes"] == []
    text = site.ctl("diff", first, second)
    assert text.code == 0 and f"+              3  {data / 'c.txt'}" in text.out


def test_latest_is_narrowed_by_tag_and_path(toolbox, tmp_path):
    site, data, (_first, second, third) = toolbox
    ids = lambda *flags: [s["id"] for s in site.ctl("snapshots", *flags, "--json").json()]  # noqa: E731
    assert ids("--tag", "nightly") == ids()[:2]
    assert ids("--snapshot-path", str(data / "sub")) == [third]
    assert ids("--tag", "adhoc,nightly") == []
    assert ids("--tag", "adhoc", "--tag", "nightly") == ids()
    assert ids("--node", "nobody") == []
    # restore latest of the whole tree, one file of it, named relative to the snapshot root
    rel = str(data / "sub" / "b.txt").lstrip("/")
    restored = site.ctl("restore", "latest", tmp_path / "r", "--snapshot-path", data,
                        "--path", rel, "--json")
    assert restored.code == 0, restored.err
    assert restored.json()["snapshot"] == second
    assert (tmp_path / "r" / rel).read_text() == "bee"
    plain = site.ctl("verify", "latest", "--json").json()
    assert plain["snapshot"] == third
    none = site.ctl("verify", "latest", "--tag", "weekly")
    assert none.code == 1 and "tag weekly" in none.err
    bad = site.ctl("restore", "latest", tmp_path / "x", "--snapshot-path", "data")
    assert bad.code == 2 and "--snapshot-path" in bad.err


def test_snapshots_group_by(toolbox):
    site, data, (first, second, third) = toolbox
    groups = site.ctl("snapshots", "--group-by", "paths", "--json").json()
    assert [([s["id"] for s in g["snapshots"]], g["group"]) for g in groups] == [
        ([first, second], {"paths": [str(data)]}), ([third], {"paths": [str(data / "sub")]})]
    latest = site.ctl("snapshots", "--group-by", "node,tags", "--latest", "1", "--json").json()
    assert [[s["id"] for s in g["snapshots"]] for g in latest] == [[second], [third]]
    bad = site.ctl("snapshots", "--group-by", "colour")
    assert bad.code == 2 and "colour" in bad.err


def test_forget_keeps_what_the_lock_keeps(toolbox):
    site, data, (first, second, third) = toolbox
    plan = site.ctl("forget", "--keep-last", "1", "--dry-run", "--json")
    assert plan.code == 0, plan.err
    node = site.ctl("snapshots", "--json").json()[0]["node"]
    outcomes = {d["snapshot"]: (d["outcome"], d["group"]) for d in plan.json()}
    assert outcomes == {second: ("keep", f"node={node} paths={data}"),
                        first: ("locked", f"node={node} paths={data}"),
                        third: ("keep", f"node={node} paths={data / 'sub'}")}
    applied = site.ctl("forget", "--keep-last", "1")
    assert applied.code == 0 and "kept by lock until" in applied.out
    assert len(site.ctl("snapshots", "--json").json()) == 3  # locked: nothing deleted
    for bad, words in ((("--keep-within", "3w"),), "--keep-within"), ((), "no --keep-* rule"):
        refused = site.ctl("forget", *bad)
        assert refused.code == 2 and words in refused.err
    node = site.ctl("forget", "--keep-last", "1", config=site.agent_toml)
    assert node.code == 2 and "Forget" in node.err
