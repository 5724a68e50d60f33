"""``vaultctl stats`` against a real vaultd: the vault's keyless sizes (logical, stored,
what a snapshot alone holds) and the client's manifest-based ratios, checked against the
store's own blob files and the backups' reports; bad input exits non-zero naming it."""

from __future__ import annotations

import os

from tests.e2e.conftest import Site

BIG = 6 << 20  # a few chunks; the second backup changes only its tail


def _blob_bytes(site: Site) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(site.store):
        for name in files:
            if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
                total += os.path.getsize(os.path.join(dirpath, name))
    return total


def test_stats_of_vault_node_and_snapshot(site: Site, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    big = bytearray(os.urandom(BIG))
    (data / "big.bin").write_bytes(big)
    (data / "text.txt").write_bytes(b"compressible " * 200_000)
    first = site.backup(data)
    big[-1000:] = os.urandom(1000)
    (data / "big.bin").write_bytes(big)
    second = site.backup(data)
    r = site.ctl("stats", second["snapshot"][:10], "--json")
    assert r.code == 0, r.err
    out = r.json()
    vault, (node,), snap = out["vault"], out["nodes"], out["snapshot"]
    assert vault["snapshots"] == node["snapshots"] == 2 and node["scope"].startswith("node:")
    assert vault["logical_bytes"] == first["bytes"] + second["bytes"]
    blobs = _blob_bytes(site)
    assert blobs and vault["stored_bytes"] == blobs == node["stored_bytes"]
    assert vault["unique_bytes"] == blobs  # nothing outside the vault references anything
    assert snap["scope"] == f"snapshot:{second['snapshot']}"
    assert snap["logical_bytes"] == second["bytes"]
    # the tail chunk and the manifest are its alone; what the first also holds is shared
    assert 0 < snap["unique_bytes"] < snap["stored_bytes"] < vault["stored_bytes"]
    assert snap["plaintext_bytes"] >= second["bytes"]  # every file's chunks, whole
    assert snap["compression_ratio"] > 1.3  # the text compresses, the random data does not
    assert vault["ratio"] == round(vault["logical_bytes"] / vault["stored_bytes"], 3)
    text = site.ctl("stats", "latest")
    assert text.code == 0 and "deduplication" in text.out and "only here" in text.out


def test_stats_bad_input(site: Site):
    assert site.ctl("stats", "--json").json()["vault"]["snapshots"] == 0
    unknown = site.ctl("stats", "--node", "nobody")
    assert unknown.code == 1 and "no snapshots of node 'nobody'" in unknown.err
    missing = site.ctl("stats", "abcdef12")
    assert missing.code == 1 and "abcdef12" in missing.err
    assert site.ctl("stats", "--bogus").code == 2
    node = site.ctl("stats", config=site.agent_toml)  # the node role may not see totals
    assert node.code == 2 and "GetStats" in node.err
