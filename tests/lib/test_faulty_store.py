"""tests.lib.faulty_store: each fault fails as the filesystem store would, and only then.

(The conformance suite, tests/vault/test_store_conformance.py, runs on a FaultyStore without
faults too: it is a MemoryStore until told otherwise.)"""

from __future__ import annotations

import threading

import pytest

from bulwark.vault.errors import NotFound, StorageError
from tests.lib.faulty_store import MAX_DELAY_S, FaultyStore
from tests.vault.conftest import make_blob


def test_disk_full_after_n_puts_keeps_the_blobs_stored_before_it():
    store = FaultyStore()
    held = make_blob()
    store.put(*held)
    store.disk_full(after_puts=2)
    a, b, c = make_blob(), make_blob(), make_blob()
    with pytest.raises(StorageError, match="write chunk .*: No space left on device") as err:
        store.put_many([a, held, b, c])  # held is already there: it costs no space
    assert err.value.disk_full
    assert store.has(a[0]) and store.has(b[0]) and not store.has(c[0])
    assert store.stored == 3
    assert store.put(*held) is False  # a second put of what is stored still answers
    store.heal()
    assert store.put(*c) is True


def test_io_error_on_puts_and_gets_is_not_disk_full():
    store = FaultyStore()
    a = make_blob()
    store.put(*a)
    store.io_error(puts=False, gets=True)
    with pytest.raises(StorageError, match="read chunk .*: Input/output error") as err:
        store.get(a[0])
    assert not err.value.disk_full
    store.io_error(puts=True)
    with pytest.raises(StorageError, match="Input/output error"):
        store.put(*make_blob())
    store.heal()
    assert store.get(a[0]) == a[1] and store.gets == 1


def test_slow_is_bounded_and_heal_wakes_a_waiting_put():
    store = FaultyStore()
    with pytest.raises(ValueError, match="within 0"):
        store.slow(put_s=MAX_DELAY_S + 1)
    store.slow(put_s=MAX_DELAY_S)
    done = threading.Event()
    blob = make_blob()
    worker = threading.Thread(target=lambda: (store.put(*blob), done.set()))
    worker.start()
    assert not done.wait(0.1)  # still waiting in its delay
    assert not store.has(blob[0])
    store.heal()
    worker.join(MAX_DELAY_S)
    assert done.is_set() and store.has(blob[0])


def test_rot_and_lose_change_the_store_behind_its_back():
    store = FaultyStore()
    a, b = make_blob(), make_blob()
    store.put_many([a, b])
    store.set_lock_oracle(type("AllLocked", (), {"why_locked": lambda self, c: "locked"})())
    store.rot(a[0], b"rotten")
    store.lose(b[0])  # a lost file asks no lock
    assert store.get(a[0]) == b"rotten" and not store.has(b[0])
    with pytest.raises(NotFound):
        store.rot(b[0], b"x")
