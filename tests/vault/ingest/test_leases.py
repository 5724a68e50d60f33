"""Upload leases in memory (vault.ingest.leases): grants, the floor after a restart or past
capacity, what prune may delete, purging. Prune with leases over a real catalog is in
tests/vault/worm/test_retention.py; a real vaultd restarted in tests/e2e/test_worm.py."""

from __future__ import annotations

import os

from bulwark.vault.ingest.leases import Leases

T = 1_800_000_000_000_000_000
HOUR = 3_600_000_000_000


def ids(n: int) -> list[bytes]:
    return [os.urandom(32) for _ in range(n)]


def test_a_grant_leases_until_then_and_a_longer_lease_is_kept():
    leases = Leases()
    a, b = ids(2)
    leases.grant([a], T + 24 * HOUR)
    leases.grant([a, b], T + HOUR)  # shorter: a keeps its 24 h
    assert leases.until_ns(a, has_row=True) == T + 24 * HOUR
    assert leases.until_ns(b, has_row=True) == T + HOUR
    assert leases.until_ns(ids(1)[0], has_row=True) == 0
    rows = [(a, 1), (b, 2)]
    assert leases.unleased(rows, T) == []
    assert leases.unleased(rows, T + HOUR) == [(b, 2)]  # a lease ends at its time
    assert leases.unleased(rows, T + 24 * HOUR) == rows


def test_the_floor_leases_every_chunk_with_a_row_and_never_goes_down():
    leases = Leases()
    held, orphan = ids(2)
    leases.hold_all(T + 24 * HOUR)
    leases.hold_all(T)  # a later, earlier floor does not lower it
    assert leases.all_until_ns == T + 24 * HOUR
    assert leases.until_ns(held, has_row=True) == T + 24 * HOUR
    assert leases.until_ns(orphan, has_row=False) == 0  # a blob without a row: no lease
    assert leases.unleased([(held, 1)], T + 24 * HOUR - 1) == []
    assert leases.unleased([(held, 1)], T + 24 * HOUR) == [(held, 1)]


def test_past_capacity_the_floor_takes_over_and_nothing_leased_is_lost():
    leases = Leases(capacity=4)
    first, later = ids(4), ids(1)
    leases.grant(first, T + HOUR)
    assert len(leases) == 4 and leases.all_until_ns == 0
    leases.grant(later, T + 2 * HOUR)  # the fifth id
    assert len(leases) == 0 and leases.all_until_ns == T + 2 * HOUR
    for cid in [*first, *later, *ids(3)]:  # every chunk with a row, leased or not
        assert leases.until_ns(cid, has_row=True) == T + 2 * HOUR


def test_ids_are_keyed_by_their_first_8_bytes_which_only_keeps_more():
    leases = Leases()
    a = os.urandom(32)
    twin = a[:8] + os.urandom(24)
    leases.grant([a], T + HOUR)
    assert leases.until_ns(twin, has_row=True) == T + HOUR


def test_purge_forgets_ended_leases_only():
    leases = Leases()
    short, long = ids(2)
    leases.grant([short], T + HOUR)
    leases.grant([long], T + 24 * HOUR)
    assert leases.purge(T + HOUR) == 1
    assert len(leases) == 1 and leases.until_ns(long, has_row=True) == T + 24 * HOUR
    assert leases.purge(T + HOUR) == 0
