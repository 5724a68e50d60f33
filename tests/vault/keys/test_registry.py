"""vault.keys.registry: enrollment from the enroll file, under concurrent lookups."""

from __future__ import annotations

import base64
import os
import threading
import time

import pytest

from bulwark.vault.errors import InvalidRequest, NotFound
from bulwark.vault.keys.registry import Registry
from tests.lib.clock import FakeClock


def _write_enroll(path, names: list[str], known: dict[str, bytes] | None = None
                  ) -> dict[str, bytes]:
    keys = {n: (known or {}).get(n) or os.urandom(32) for n in names}
    body = "[nodes]\n" + "".join(f'{n} = "{base64.b64encode(k).decode()}"\n'
                                 for n, k in keys.items())
    path.write_text(body)
    return keys


def test_lookups_racing_a_reload_wait_for_it(tmp_path, monkeypatch):
    """Eight commits arrive just after the enroll file gained their nodes: each must find
    its node, although the first caller is still enrolling them (slowed down here)."""
    enroll = tmp_path / "enroll.toml"
    first = _write_enroll(enroll, ["node0"])
    registry = Registry(tmp_path / "keys.sqlite", enroll_file=enroll)
    keys = _write_enroll(enroll, [f"node{i}" for i in range(8)], first)
    slow_enroll = registry.enroll

    def enroll(name, key):
        time.sleep(0.02)
        return slow_enroll(name, key)

    monkeypatch.setattr(registry, "enroll", enroll)
    found: dict[str, bytes | None] = {}
    start = threading.Barrier(8, timeout=10)

    def commit(name: str) -> None:
        start.wait()
        found[name] = registry.node_key(name)

    threads = [threading.Thread(target=commit, args=(n,)) for n in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert found == keys


def test_broken_enroll_file_is_not_reread_until_it_changes(tmp_path, caplog):
    enroll = tmp_path / "enroll.toml"
    enroll.write_text("[nodes\n")
    registry = Registry(tmp_path / "keys.sqlite", enroll_file=enroll)
    assert registry.node_key("a") is None
    assert registry.node_key("a") is None
    assert sum("cannot read the enroll file" in r.message for r in caplog.records) == 1
    keys = _write_enroll(enroll, ["a"])
    assert registry.node_key("a") == keys["a"]


def test_retire_keeps_the_key_and_the_first_retirement(tmp_path):
    reg = Registry(tmp_path / "keys.sqlite", FakeClock(1_000, step=1))
    key = os.urandom(32)
    reg.enroll("gpu-1", key)
    with pytest.raises(NotFound, match="not enrolled"):
        reg.retire("gpu-2", "op", "gone")
    with pytest.raises(InvalidRequest, match="reason"):
        reg.retire("gpu-1", "op", " ")
    assert not reg.is_retired("gpu-1")
    first = reg.retire("gpu-1", "op", "decommissioned")
    assert reg.retire("gpu-1", "other", "again") == first
    assert reg.is_retired("gpu-1") and reg.node_key("gpu-1") == key
    assert reg.retired() == {"gpu-1": first}


def test_escrow_listing_and_last_read(tmp_path):
    reg = Registry(tmp_path / "keys.sqlite", FakeClock(1_000, step=1))
    stored = reg.put_escrow("tenant", b"x" * 10)
    assert reg.escrows() == [("tenant", stored, 10, 0)]
    reg.get_escrow("tenant")
    ((_, _, _, read),) = reg.escrows()
    assert read > stored
