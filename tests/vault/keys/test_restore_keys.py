"""vault.keys.restore_keys: one announcement per generation, kept as published, bounded."""

from __future__ import annotations

import os

import pytest

from bulwark.vault.errors import InvalidRequest, LimitExceeded, PermissionDenied
from bulwark.vault.keys import restore_keys
from bulwark.vault.keys.restore_keys import RestoreKeyLog
from tests.lib.clock import FakeClock


def announcement(generation: int, key: bytes | None = None) -> bytes:
    return b"BWRK" + generation.to_bytes(4, "little") + (key or os.urandom(32))


@pytest.fixture
def log(tmp_path):
    log = RestoreKeyLog(tmp_path / "keys.sqlite", FakeClock(step=1))
    yield log
    log.close()


def test_publish_keeps_one_announcement_per_generation(log, tmp_path):
    first, sig = announcement(2), os.urandom(64)
    record = log.publish(first, sig, "op-1")
    assert (record.generation, record.announcement, record.published_by) == (2, first, "op-1")
    assert log.publish(first, sig, "op-2") == record  # the same bytes again: the first record
    with pytest.raises(PermissionDenied, match="generation 2 was already published by op-1"):
        log.publish(announcement(2), os.urandom(64), "mallory")
    log.publish(announcement(1), os.urandom(64), "op-1")
    assert [r.generation for r in log.list()] == [1, 2]
    reopened = RestoreKeyLog(tmp_path / "keys.sqlite")
    assert reopened.list()[1] == record
    reopened.close()


@pytest.mark.parametrize("data, signature, reason", [
    (b"BWRK" + bytes(36), bytes(64), "not a restore key announcement"),  # generation 0
    (b"BWRX" + (1).to_bytes(4, "little") + bytes(32), bytes(64), "not a restore key"),
    (announcement(1)[:39], bytes(64), "not a restore key"),
    (announcement(1), bytes(63), "signature: 63 bytes, expected 64"),
])
def test_malformed_announcements_are_refused(log, data, signature, reason):
    with pytest.raises(InvalidRequest, match=reason):
        log.publish(data, signature, "op")
    assert log.list() == []


def test_the_number_of_generations_is_bounded(log, monkeypatch):
    monkeypatch.setattr(restore_keys, "MAX_GENERATIONS", 3)
    for g in (1, 2, 3):
        log.publish(announcement(g), bytes(64), "op")
    with pytest.raises(LimitExceeded, match="most a vault keeps is 3"):
        log.publish(announcement(4), bytes(64), "op")
