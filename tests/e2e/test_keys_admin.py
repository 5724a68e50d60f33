"""``vaultctl keys list`` and ``keys retire`` against a real vaultd over mTLS: the inventory
(nodes with fingerprints and last use, escrow entries with their last read), a retired node
refused on its next call while its old snapshot still verifies, the audit, roles and bad
input."""

from __future__ import annotations

import hashlib
import json

from tests.e2e.conftest import Site

PASS = {"BULWARK_PASSPHRASE": "correct horse battery staple"}


def _keys(site: Site) -> dict:
    r = site.ctl("keys", "list", "--json")
    assert r.code == 0, r.err
    return r.json()  # type: ignore[return-value]


def test_keys_list_and_retire_a_node(site: Site, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a" * 100)
    sid = site.backup(data)["snapshot"]
    (node,) = _keys(site)["nodes"]
    assert node["snapshots"] == 1 and node["last_snapshot_ns"] > node["enrolled_ns"] > 0
    assert node["fingerprint"] == "SHA256:" + hashlib.sha256(
        bytes.fromhex(node["public_key"])).hexdigest()
    assert node["retired_ns"] == 0
    assert site.ctl("keys", "escrow", "--name", "tenant", "--key-file", site.dir / "tenant.key",
                    env=PASS).code == 0
    (escrow,) = _keys(site)["escrow"]
    assert escrow["name"] == "tenant" and escrow["size"] > 0 and escrow["last_read_ns"] == 0
    assert site.ctl("keys", "recover", "--name", "tenant", "--out", tmp_path / "t.key",
                    env=PASS).code == 0
    assert _keys(site)["escrow"][0]["last_read_ns"] >= escrow["stored_ns"]
    text = site.ctl("keys", "list")
    assert text.code == 0 and node["node"] in text.out and "active" in text.out

    retired = site.ctl("keys", "retire", "--node", node["node"], "--reason", "decommissioned",
                       "--json")
    assert retired.code == 0, retired.err
    assert retired.json()["retired_ns"] > 0 and retired.json()["reason"] == "decommissioned"
    refused = site.agent("backup", data)  # the node's certificate is refused from now on
    assert refused.code == 2 and "retired" in refused.err
    assert site.ctl("verify", sid).code == 0  # its key is kept: the old snapshot verifies
    after = _keys(site)["nodes"][0]
    assert after["retired_ns"] > 0 and after["public_key"] == node["public_key"]
    again = site.ctl("keys", "retire", "--node", node["node"], "--reason", "twice", "--json")
    assert again.json()["reason"] == "decommissioned"  # the first retirement stands
    audit = [json.loads(json.loads(line)["record"])
             for line in site.ctl("audit", "--json").out.splitlines() if line]
    assert [e["target"] for e in audit if e["action"] == "keys.retire"
            and e["outcome"] == "allowed"] == [node["node"]] * 2


def test_keys_admin_bad_input_and_roles(site: Site):
    unknown = site.ctl("keys", "retire", "--node", "nobody", "--reason", "x")
    assert unknown.code == 2 and "nobody" in unknown.err
    assert site.ctl("keys", "retire", "--node", "nobody").code == 2  # --reason required
    blank = site.ctl("keys", "retire", "--node", "nobody", "--reason", " ")
    assert blank.code == 2 and "--reason" in blank.err
    node = site.ctl("keys", "list", config=site.agent_toml)
    assert node.code == 2 and "ListKeys" in node.err
    drill = site.ctl("keys", "retire", "--node", "x", "--reason", "x",
                     config=site.role_toml("drill"))
    assert drill.code == 2 and "RetireNode" in drill.err
    for action in ("list", "retire"):
        helped = site.ctl("keys", action, "--help")
        assert helped.code == 0 and "example: vaultctl" in helped.out
