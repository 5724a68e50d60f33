"""``vaultctl tag`` against a real vaultd over mTLS: added tags shown apart from the signed
ones and matched by filters and ``latest``, signed tags that cannot be removed, the audit
trail, the roles, and bad input."""

from __future__ import annotations

import json

from tests.e2e.conftest import Site


def test_tag_add_filter_remove_and_audit(site: Site, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a" * 1000)
    first = site.backup(data, tags=("nightly",))["snapshot"]
    second = site.backup(data, tags=("nightly",))["snapshot"]
    added = site.ctl("tag", first[:10], "--add", "reviewed,keep", "--json")
    assert added.code == 0, added.err
    out = added.json()
    assert out == {"snapshot": first, "tags": ["nightly"], "added_tags": ["keep", "reviewed"],
                   "added": ["keep", "reviewed"], "removed": []}
    listed = site.ctl("snapshots", "--tag", "reviewed", "--json").json()
    assert [(s["id"], s["tags"], s["added_tags"]) for s in listed] == [
        (first, ["nightly"], ["keep", "reviewed"])]
    assert [s["id"] for s in site.ctl("snapshots", "--tag", "nightly,keep", "--json").json()
            ] == [first]
    text = site.ctl("snapshots")
    assert "[nightly, +keep, +reviewed]" in text.out
    # latest narrowed by an added tag is the older snapshot, not the newest
    assert site.ctl("ls", "latest", "--tag", "keep", "--json").code == 0
    stats = site.ctl("stats", "latest", "--tag", "keep", "--json").json()
    assert stats["snapshot"]["scope"] == f"snapshot:{first}"
    # the signed tag stays; the vault refuses it too when the client check is bypassed
    signed = site.ctl("tag", first, "--remove", "nightly")
    assert signed.code == 2 and "'nightly'" in signed.err and "signed" in signed.err
    removed = site.ctl("tag", first, "--remove", "reviewed", "--json").json()
    assert removed["added_tags"] == ["keep"] and removed["removed"] == ["reviewed"]
    again = site.ctl("tag", first, "--remove", "reviewed")
    assert again.code == 0 and "nothing changed" in again.out
    assert site.ctl("snapshots", "--tag", "reviewed", "--json").json() == []
    assert second not in [s["id"] for s in site.ctl(
        "snapshots", "--tag", "keep", "--json").json()]
    audit = [json.loads(json.loads(line)["record"])
             for line in site.ctl("audit", "--json").out.splitlines() if line]
    changes = [(e["action"], e["target"], e["detail"]) for e in audit
               if e["action"].startswith("tag.")]
    assert changes == [("tag.add", first, "keep"), ("tag.add", first, "reviewed"),
                       ("tag.remove", first, "reviewed")]


def test_tag_refusals_and_bad_input(site: Site, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.bin").write_bytes(b"a")
    sid = site.backup(data, tags=("nightly",))["snapshot"]
    assert site.ctl("tag", sid).code == 2  # neither --add nor --remove
    for bad in ("", "a,,b", " pad", "x" * 256, "bell\x07"):
        r = site.ctl("tag", sid, "--add", bad)
        assert r.code == 2 and "--add" in r.err, (bad, r.err)
    both = site.ctl("tag", sid, "--add", "x", "--remove", "x")
    assert both.code == 2 and "'x'" in both.err
    unknown = site.ctl("tag", "ffffffff", "--add", "x")
    assert unknown.code == 1 and "ffffffff" in unknown.err
    node = site.ctl("tag", sid, "--add", "x", config=site.agent_toml)
    assert node.code == 2 and "SetTags" in node.err
    drill = site.ctl("tag", sid, "--add", "x", config=site.role_toml("drill"))
    assert drill.code == 2 and "SetTags" in drill.err
    assert site.ctl("tag", "--bogus").code == 2
    helped = site.ctl("tag", "--help")
    assert helped.code == 0 and "example: vaultctl" in helped.out
