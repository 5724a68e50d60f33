"""Ransomware signals end to end (issue 18): a real vaultd, the real CLIs, real AES-CTR.

A clean backup, then 30 % of the files encrypted in place and backed up again: the second
snapshot is stored in full but marked, the first one's retention is extended, the mark and
its reasons show in ``snapshots`` and ``signals``, ``latest-clean`` restores the clean one,
the mark is audited, and only the officer may clear it.
"""

from __future__ import annotations

import json
import os
import random
import struct
from pathlib import Path

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def make_tree(root: Path) -> None:
    rng = random.Random(18)
    for i in range(30):
        d = root / f"d{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        if i % 3 == 0:  # JSON records
            doc = [{"id": j, "caption": f"sample {rng.random():.6f}"} for j in range(300)]
            (d / f"r{i}.json").write_text(json.dumps(doc))
        elif i % 3 == 1:  # text, large enough to be read as its own file
            words = " ".join(rng.choice(["alpha", "beta", "gamma", "delta"]) for _ in range(30000))
            (d / f"t{i}.txt").write_text(words)
        else:  # a small safetensors file of bf16 weights (format and exponent checks)
            n = 40000
            values = bytes(b for _ in range(n) for b in (rng.randrange(256),
                                                        0x3C + rng.randrange(3)))
            header = json.dumps({"w": {"dtype": "BF16", "shape": [n],
                                       "data_offsets": [0, 2 * n]}}).encode()
            header += b" " * (-len(header) % 8)
            (d / f"m{i}.safetensors").write_bytes(struct.pack("<Q", len(header)) + header
                                                  + values)


def encrypt(path: Path) -> None:
    enc = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).encryptor()
    path.write_bytes(enc.update(path.read_bytes()) + enc.finalize())


def test_encrypted_snapshot_is_marked_kept_and_latest_clean_restores_before(site, tmp_path):
    data = tmp_path / "data"
    make_tree(data)
    first = site.backup(data)
    assert first["signals"]["score"] == 0 and first["signals"]["reasons"] == []

    files = sorted(p for p in data.rglob("*") if p.is_file())
    victims = files[::3]  # a third of the files (every kind)
    for p in victims:
        encrypt(p)
    second = site.backup(data)  # never refused: the snapshot is evidence
    assert second["files"] == len(files)
    assert second["signals"]["score"] >= 0.25, second["signals"]
    assert any(r.startswith("format_lost") for r in second["signals"]["reasons"])

    listed = {s["id"]: s for s in site.ctl("snapshots", "--json").json()}
    assert not listed[first["snapshot"]]["mark"]["suspicious"]
    mark = listed[second["snapshot"]]["mark"]
    assert mark["suspicious"] and mark["set_by"] == ""
    assert any("format_lost" in r for r in mark["reasons"]), mark
    text = site.ctl("snapshots")
    assert "SUSPICIOUS" in text.out and "format_lost" in text.out

    # the clean snapshot is kept longer than the default 30 days (protect_days 90)
    kept = listed[first["snapshot"]]["retention"]["retain_until"]
    assert kept > listed[second["snapshot"]]["retention"]["retain_until"]

    detail = site.ctl("signals", second["snapshot"], "--json").json()
    flagged = {f["path"] for f in detail["files"]}
    assert flagged == {str(p).lstrip("/") for p in victims}  # manifest paths are relative
    assert detail["summary"]["format_lost_ppm"] > 0

    out = tmp_path / "restored"
    r = site.ctl("restore", "latest-clean", out, "--json")
    assert r.code == 0, r.err
    assert r.json()["snapshot"] == first["snapshot"]
    restored = out / str(victims[0]).lstrip("/")
    assert restored.read_bytes() != victims[0].read_bytes()  # the pre-attack content

    drill = site.ctl("drill", second["snapshot"], "--json", config=site.role_toml("drill"))
    report = json.loads(drill.out)  # the drill's own verdict is another test's business
    assert report["signals"]["mark"]["suspicious"] is True
    assert report["signals"]["summary"]["format_lost_ppm"] > 0

    audit = site.ctl("audit", "--json")
    assert "snapshot.mark" in audit.out

    refused = site.ctl("mark", "clear", second["snapshot"], "--reason", "test")
    assert refused.code == 2, refused.err  # the operator may not
    bad = site.ctl("mark", "clear", second["snapshot"], config=site.role_toml("officer"))
    assert bad.code == 2 and "--reason" in bad.err
    cleared = site.ctl("mark", "clear", second["snapshot"][:12], "--reason", "drill",
                       "--json", config=site.role_toml("officer"))
    assert cleared.code == 0, cleared.err
    assert cleared.json()["mark"]["suspicious"] is False
    r = site.ctl("verify", "latest-clean", "--json")
    assert r.code == 0 and r.json()["snapshot"] == second["snapshot"]
