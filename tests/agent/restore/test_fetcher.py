"""agent.restore.fetcher: plaintexts come back in order whatever the batching, downloads run
ahead of the reader (bounded), a repeated pack is fetched once, and a damaged, missing or
forged chunk fails only its own refs. On an in-memory client (tests.lib.fake_vault_client)."""

from __future__ import annotations

import threading
import time

import blake3
import pytest

from bulwark.agent.errors import IntegrityError, VaultError
from bulwark.agent.format.blob import seal_chunk
from bulwark.agent.format.manifest import ChunkRef
from bulwark.agent.restore.fetcher import FETCH_BATCH, RECENT, fetch_plaintext
from tests.lib.fake_vault_client import FakeVaultClient

ID_KEY = bytes(range(32))
WAIT_S = 10.0


def stored(client: FakeVaultClient, n: int, size: int = 64) -> tuple[list[ChunkRef], list[bytes]]:
    """``n`` chunks sealed and held by ``client``: their refs and plaintexts."""
    plains = [blake3.blake3(b"%d" % i).digest(length=size) for i in range(n)]
    refs = []
    for plain in plains:
        sealed = seal_chunk(ID_KEY, plain, with_facts=False)
        client.hold(sealed.blob)
        refs.append(ChunkRef(sealed.chunk_id, sealed.key, sealed.size))
    return refs, plains


def test_plaintexts_come_in_order_across_many_batches():
    client = FakeVaultClient()
    refs, plains = stored(client, 2 * FETCH_BATCH + 7, size=16)
    got = list(fetch_plaintext(client, refs, workers=2))
    assert [r for r, _ in got] == refs
    assert [p for _, p in got] == plains
    assert [len(c) for c in client.get_calls] == [FETCH_BATCH, FETCH_BATCH, 7]


def test_downloads_run_ahead_of_the_reader_but_only_lookahead_batches(monkeypatch):
    monkeypatch.setattr("bulwark.agent.restore.fetcher.FETCH_BATCH", 1)  # one ref a batch
    client = FakeVaultClient()
    refs, plains = stored(client, 10)
    first_call, release = threading.Event(), threading.Event()

    def hold_the_first(ids):
        if ids == [refs[0].id]:
            first_call.set()
            release.wait(WAIT_S)

    client.before_get = hold_the_first
    stream = fetch_plaintext(client, refs, workers=2, lookahead=3)
    result: list = []
    reader = threading.Thread(target=lambda: result.append(next(stream)))
    reader.start()
    try:
        assert first_call.wait(WAIT_S)
        # while the first download hangs, the next ones are asked for already, up to the
        # lookahead (batches 2..4) and no further until the reader takes the first
        assert wait_for(lambda: len(client.get_calls) >= 4)
        assert sorted(c[0] for c in client.get_calls) == sorted(r.id for r in refs[:4])
        assert len(client.get_calls) == 4 and result == []
    finally:
        release.set()
    reader.join(WAIT_S)
    assert result == [(refs[0], plains[0])]
    assert [p for _, p in stream] == plains[1:]


def wait_for(condition, timeout: float = WAIT_S) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` passed (bounded)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_pack_shared_by_neighbouring_refs_is_fetched_once():
    client = FakeVaultClient()
    (pack, other), (pack_plain, other_plain) = stored(client, 2)
    got = list(fetch_plaintext(client, [pack, pack, other, pack], workers=1))
    assert [p for _, p in got] == [pack_plain, pack_plain, other_plain, pack_plain]
    assert [i for c in client.get_calls for i in c] == [pack.id, other.id]


def test_a_ref_seen_longer_ago_than_recent_is_fetched_again():
    client = FakeVaultClient()
    refs, plains = stored(client, RECENT + 1)
    order = [*refs, refs[0]]
    got = list(fetch_plaintext(client, order, workers=1))
    assert [p for _, p in got] == [*plains, plains[0]]
    assert [i for c in client.get_calls for i in c] == [r.id for r in order]


def test_a_damaged_chunk_fails_only_its_refs():
    client = FakeVaultClient()
    refs, plains = stored(client, 5)
    client.damaged.add(refs[2].id)
    got = list(fetch_plaintext(client, refs, workers=2))
    assert [r for r, _ in got] == refs
    for i, (_, plain) in enumerate(got):
        if i == 2:
            assert isinstance(plain, IntegrityError) and "fails its hash" in str(plain)
        else:
            assert plain == plains[i]
    # the batch failed once, then every id was asked for alone
    assert client.get_calls[0] == [r.id for r in refs]
    assert client.get_calls[1:] == [[r.id] for r in refs]


def test_a_chunk_the_vault_lacks_or_a_forged_blob_is_an_integrity_error():
    client = FakeVaultClient()
    refs, plains = stored(client, 3)
    missing = ChunkRef(b"\x01" * 32, b"\x02" * 32, 10)
    forged_blob = seal_chunk(ID_KEY, b"other bytes", with_facts=False).blob
    (forged_id,) = client.hold(forged_blob)
    forged = ChunkRef(forged_id, refs[0].key, refs[0].size)  # a blob the key does not open
    got = dict((r.id, p) for r, p in fetch_plaintext(client, [*refs, missing, forged], 2))
    assert [got[r.id] for r in refs] == plains
    assert isinstance(got[missing.id], IntegrityError) and missing.id.hex() in str(got[missing.id])
    assert isinstance(got[forged.id], IntegrityError)


def test_an_unreachable_vault_reaches_the_reader():
    class Unreachable(FakeVaultClient):
        def get_chunks(self, chunk_ids):
            raise VaultError("cannot reach the vault at 127.0.0.1:1: connection refused")

    client = Unreachable()
    refs, _ = stored(client, 3)
    with pytest.raises(VaultError, match="cannot reach"):
        list(fetch_plaintext(client, refs, workers=1))
