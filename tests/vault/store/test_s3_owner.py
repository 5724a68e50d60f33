"""The owner object on a real radosgw (issue 17): claims refused while another holder is
fresh, concurrent claims of one bucket with exactly one winner (RGW has no conditional PUT),
a take-over that the displaced holder's next heartbeat notices, and a clean release."""

from __future__ import annotations

import threading

import pytest

from bulwark.vault.errors import StorageError
from bulwark.vault.store.s3 import S3ChunkStore
from bulwark.vault.store.s3_owner import BucketOwner
from tests.vault.store.test_s3 import settings


def owners(rgw, bucket: str, tmp_path, n: int) -> list[BucketOwner]:
    stores = [S3ChunkStore(settings(rgw, bucket, tmp_path)) for _ in range(n)]
    return [BucketOwner(s, tmp_path / f"state-{i}") for i, s in enumerate(stores)]


def race(pair: list[BucketOwner]) -> dict[int, str]:
    """Both claim at once (a barrier releases them together): "won" or the refusal."""
    start = threading.Barrier(2)
    outcome: dict[int, str] = {}

    def claim(i: int) -> None:
        start.wait()
        try:
            pair[i].claim()
            outcome[i] = "won"
        except StorageError as exc:
            outcome[i] = str(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcome


def test_concurrent_claims_of_one_bucket_have_exactly_one_winner(rgw_cluster, tmp_path):
    for _ in range(4):  # bounded: each round a fresh bucket, two claimers released together
        pair = owners(rgw_cluster, rgw_cluster.make_bucket(), tmp_path, 2)
        outcome = race(pair)
        assert sorted(outcome) == [0, 1]
        winners = [i for i, o in outcome.items() if o == "won"]
        assert len(winners) == 1, outcome
        loser = outcome[1 - winners[0]]
        assert f"state folder {tmp_path / f'state-{winners[0]}'}" in loser
        for owner in pair:
            owner.store.close()


def test_take_over_stops_the_holder_at_its_next_heartbeat_and_release_frees(
        rgw_cluster, tmp_path):
    first, second = owners(rgw_cluster, rgw_cluster.make_bucket(), tmp_path, 2)
    first.claim()
    assert first.beat()
    with pytest.raises(StorageError, match="is served by vaultd .* one vaultd per bucket"):
        second.claim()
    second.claim(take_over=True)
    assert second.took_over is not None and second.took_over.instance == first.instance
    assert not first.beat() and first.lost.is_set()  # displaced: it stops
    assert second.beat()
    first.release()  # lost: writes nothing
    second.release()
    third = BucketOwner(first.store, tmp_path / "state-2")
    previous = third.claim()  # released: no wait, and it names who served last
    assert previous is not None and previous.released
    assert not previous.served_from(tmp_path / "state-2")
    for owner in (first, second):
        owner.store.close()


def test_a_take_over_wins_over_a_heartbeat_of_the_holder_it_displaces(
        rgw_cluster, tmp_path, monkeypatch):
    """The holder beats between the take-over's read and its claim (the race a clean-clone
    run met): its heartbeat is not a competing claim, so the take-over still wins."""
    first, second = owners(rgw_cluster, rgw_cluster.make_bucket(), tmp_path, 2)
    first.claim()
    put = second._put

    def beat_then_put(*args, **kwargs):
        assert first.beat()  # the holder renews after the take-over read the key
        return put(*args, **kwargs)

    monkeypatch.setattr(second, "_put", beat_then_put)
    second.claim(take_over=True)
    monkeypatch.undo()
    assert second.took_over is not None and second.took_over.instance == first.instance
    assert not first.beat() and first.lost.is_set()
    assert second.beat()
    for owner in (first, second):
        owner.store.close()
