"""The audit hash chain: append, durability across reopen, offline verification, tampering."""

from __future__ import annotations

import json
import sqlite3
import threading

import pytest

from bulwark.vault.audit.log import (
    GENESIS,
    AuditEntry,
    AuditLog,
    canonical,
    chain_hash,
    verify_chain,
)
from tests.lib.clock import FakeClock as _FakeClock


def FakeClock() -> _FakeClock:
    return _FakeClock(1_000)


@pytest.fixture
def log(tmp_path):
    audit = AuditLog(tmp_path / "audit.sqlite", FakeClock(), wall=lambda: 2_000)
    yield audit
    audit.close()


def test_entry_layout_and_chain_rule(log):
    first = log.append("alice", "officer", "hold.set", "snap:ab", "allowed", "litigation")
    second = log.append("bob", "node", "delete", "snap:ab", "refused", "held")
    assert first.seq == 1 and first.prev_hash == GENESIS
    assert first.record == canonical(json.loads(first.record))
    assert json.loads(first.record) == {
        "seq": 1, "time_ns": 1_000, "wall_ns": 2_000, "actor": "alice", "role": "officer",
        "action": "hold.set", "target": "snap:ab", "outcome": "allowed", "detail": "litigation",
    }
    assert b" " not in first.record.replace(b"litigation", b"")
    assert first.hash == chain_hash(GENESIS, first.record)
    assert second.prev_hash == first.hash
    assert list(log.entries()) == [first, second]
    assert list(log.entries(2)) == [second]
    assert verify_chain(log.entries()) is None
    assert log.head() == second


def test_outcome_must_be_known(log):
    with pytest.raises(ValueError, match="outcome"):
        log.append("a", "operator", "x", "t", "maybe")


def test_survives_reopen_and_continues_the_chain(tmp_path):
    path = tmp_path / "audit.sqlite"
    a = AuditLog(path, FakeClock())
    a.append("a", "operator", "prune", "vault", "allowed")
    a.close()
    b = AuditLog(path, FakeClock())
    e = b.append("a", "operator", "prune", "vault", "allowed")
    assert e.seq == 2
    assert verify_chain(b.entries()) is None
    b.close()


def test_concurrent_appends_form_one_chain(log):
    def work(n: int) -> None:
        for i in range(25):
            log.append(f"t{n}", "operator", "x", str(i), "allowed")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    entries = list(log.entries())
    assert [e.seq for e in entries] == list(range(1, 101))
    assert verify_chain(entries) is None


def _tamper(path, sql, *args):
    db = sqlite3.connect(path)
    db.execute(sql, args)
    db.commit()
    db.close()


@pytest.mark.parametrize("how", ["edit-record", "delete-middle", "rehash-edit", "bad-genesis"])
def test_tampering_reports_first_broken_entry(tmp_path, how):
    path = tmp_path / "audit.sqlite"
    log = AuditLog(path, FakeClock())
    for i in range(5):
        log.append("a", "operator", "delete", f"snap:{i}", "allowed")
    entries = list(log.entries())
    if how == "edit-record":
        forged = entries[2].record.replace(b'"allowed"', b'"refused"')
        _tamper(path, "UPDATE audit SET record = ? WHERE seq = 3", forged)
        expected = 3
    elif how == "delete-middle":
        _tamper(path, "DELETE FROM audit WHERE seq = 3")
        expected = 4
    elif how == "rehash-edit":
        # An attacker who recomputes the edited entry's own hash still breaks the next link.
        forged = entries[1].record.replace(b"snap:1", b"snap:9")
        _tamper(path, "UPDATE audit SET record = ?, hash = ? WHERE seq = 2",
                forged, chain_hash(entries[1].prev_hash, forged))
        expected = 3
    else:
        _tamper(path, "UPDATE audit SET prev_hash = ? WHERE seq = 1", b"\1" * 32)
        expected = 1
    assert verify_chain(log.entries()) == expected
    log.close()


def test_non_canonical_record_is_broken_even_if_hash_matches():
    record = json.dumps({"seq": 1, "time_ns": 1, "wall_ns": 1, "actor": "a", "role": "r",
                         "action": "x", "target": "t", "outcome": "allowed",
                         "detail": ""}).encode()  # spaces: not canonical
    entry = AuditEntry(1, record, GENESIS, chain_hash(GENESIS, record))
    assert verify_chain([entry]) == 1


def test_json_export_round_trip(log):
    log.append("a", "operator", "x", "t", "allowed", "ünïcode detail")
    entries = list(log.entries())
    lines = [json.dumps(e.to_json()) for e in entries]
    back = [AuditEntry.from_json(json.loads(line)) for line in lines]
    assert back == entries
    assert verify_chain(back) is None
    with pytest.raises(ValueError, match="not an audit entry"):
        AuditEntry.from_json({"seq": 1})
