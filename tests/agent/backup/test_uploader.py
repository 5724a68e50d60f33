"""agent.backup.uploader: dedup, FindMissing batching, only missing blobs sent, finish() after
the vault's answer, errors reaching the caller, abort. The logic on an in-memory client
(tests.lib.fake_vault_client); the ordering rule once more against a real vault served in
this process, whose store is slow."""

from __future__ import annotations

import threading

import blake3
import pytest

from bulwark.agent.backup.uploader import Uploader
from bulwark.agent.client.vault import VaultClient
from bulwark.agent.errors import VaultError
from bulwark.agent.format.blob import SealedChunk, seal_chunk
from bulwark.protos.contract import IDS_PER_MESSAGE
from tests.lib.fake_vault_client import FakeVaultClient
from tests.lib.faulty_store import FaultyStore
from tests.lib.inprocess_vault import InProcessVault

ID_KEY = bytes(range(32))
WAIT_S = 10.0  # bound on every wait for another thread


def sealed(n: int, size: int = 100) -> list[SealedChunk]:
    """``n`` real sealed chunks of ``size`` incompressible bytes (blobs ~30 bytes longer)."""
    return [seal_chunk(ID_KEY, blake3.blake3(b"%d" % i).digest(length=size), with_facts=False)
            for i in range(n)]


def tiny(n: int) -> list[SealedChunk]:
    """Many cheap chunks (not real blobs: the uploader never opens them)."""
    blobs = [b"b%d" % i for i in range(n)]
    return [SealedChunk(FakeVaultClient().hold(b)[0], b"k" * 32, b, 1) for b in blobs]


def test_a_chunk_seen_twice_in_a_run_is_asked_about_and_sent_once():
    client = FakeVaultClient()
    a, b = sealed(2)
    up = Uploader(client)
    for chunk in (a, b, a, a):
        up.add(chunk)
    stats = up.finish()
    assert [sorted(c) for c in client.find_calls] == [sorted([a.chunk_id, b.chunk_id])]
    assert client.put_messages == [[a.chunk_id, b.chunk_id]]
    assert (stats.new_chunks, stats.new_bytes) == (2, len(a.blob) + len(b.blob))


def test_only_the_blobs_the_vault_lacks_are_sent():
    client = FakeVaultClient()
    chunks = sealed(5)
    client.hold(chunks[1].blob, chunks[3].blob)
    up = Uploader(client)
    for chunk in chunks:
        up.add(chunk)
    stats = up.finish()
    assert [i for m in client.put_messages for i in m] == [chunks[i].chunk_id for i in (0, 2, 4)]
    assert (stats.new_chunks, stats.reused_chunks) == (3, 2)
    assert all(client.blobs[c.chunk_id] == c.blob for c in chunks)


def test_find_missing_asks_at_most_ids_per_message_and_batch_bytes_at_a_time():
    client = FakeVaultClient()
    chunks = tiny(IDS_PER_MESSAGE + 3)
    up = Uploader(client, batch_bytes=1 << 30)
    for chunk in chunks:
        up.add(chunk)
    up.finish()
    assert [len(c) for c in client.find_calls] == [IDS_PER_MESSAGE, 3]

    client = FakeVaultClient()
    up = Uploader(client, batch_bytes=250)
    for chunk in sealed(6, size=100):  # blobs of ~130 bytes: two a batch
        up.add(chunk)
    up.finish()
    assert [len(c) for c in client.find_calls] == [2, 2, 2]


def test_messages_stay_under_message_bytes_and_half_the_channel_limit():
    client = FakeVaultClient(max_message_bytes=1 << 20)
    chunks = sealed(10, size=1000)
    up = Uploader(client, message_bytes=2500)
    for chunk in chunks:
        up.add(chunk)
    up.finish()
    sizes = [sum(len(client.blobs[i]) for i in m) for m in client.put_messages]
    assert len(sizes) > 1 and max(sizes) <= 2500
    assert [i for m in client.put_messages for i in m] == [c.chunk_id for c in chunks]


def test_message_size_is_capped_by_the_clients_limit():
    client = FakeVaultClient(max_message_bytes=5000)
    chunks = sealed(10, size=1000)
    up = Uploader(client, message_bytes=1 << 20)
    for chunk in chunks:
        up.add(chunk)
    up.finish()
    assert max(sum(len(client.blobs[i]) for i in m) for m in client.put_messages) <= 2500


def test_finish_returns_only_after_the_vault_answered():
    client = FakeVaultClient()
    answer = threading.Event()
    client.before_answer = lambda: answer.wait(WAIT_S)
    up = Uploader(client)
    for chunk in sealed(3):
        up.add(chunk)
    finished = threading.Event()
    worker = threading.Thread(target=lambda: (up.finish(), finished.set()))
    worker.start()
    # every message is in, the answer is held back: finish() must still be waiting
    assert not finished.wait(0.3)
    assert len([i for m in client.put_messages for i in m]) == 3
    answer.set()
    worker.join(WAIT_S)
    assert finished.is_set()


def test_finish_returns_after_a_real_vault_made_every_blob_durable(tmp_path):
    store = FaultyStore()
    store.slow(put_s=0.2)  # the answer comes late; finish() must wait for it
    vault = InProcessVault(tmp_path / "vault", store)
    try:
        with VaultClient(vault.address) as client:
            chunks = sealed(4)
            up = Uploader(client, message_bytes=150)  # one message a blob: four slow puts
            for chunk in chunks:
                up.add(chunk)
            stats = up.finish()
            assert all(store.has(c.chunk_id) for c in chunks)
            assert stats.new_chunks == 4 and store.stored == 4
            assert vault.catalog.missing_chunks([c.chunk_id for c in chunks]) == []
    finally:
        vault.close()


def test_an_error_in_the_sender_reaches_finish():
    client = FakeVaultClient()
    client.put_error = VaultError("PutChunks: vault answered RESOURCE_EXHAUSTED: disk full")
    client.fail_after_messages = 1
    up = Uploader(client, message_bytes=150)
    for chunk in sealed(3):
        up.add(chunk)
    with pytest.raises(VaultError, match="disk full"):
        up.finish()
    assert len(client.put_messages) == 1  # what came before the failure was sent


def test_an_error_in_the_sender_reaches_add_while_chunks_keep_coming():
    client = FakeVaultClient()
    client.put_error = VaultError("PutChunks: cannot reach the vault")
    up = Uploader(client, batch_bytes=1, queue_chunks=1, message_bytes=150)  # a blob a message
    with pytest.raises(VaultError, match="cannot reach"):
        for chunk in sealed(200):  # bounded: the error must surface well before the end
            up.add(chunk)
    up.abort()


def test_an_error_in_find_missing_reaches_the_caller():
    client = FakeVaultClient()
    client.find_error = VaultError("FindMissing: cannot reach the vault at x")
    up = Uploader(client)
    up.add(sealed(1)[0])
    with pytest.raises(VaultError, match="FindMissing"):
        up.finish()
    assert client.put_messages == []


def test_abort_ends_the_upload_stream_and_sends_nothing_more():
    client = FakeVaultClient()
    answered = threading.Event()
    client.before_answer = answered.set
    up = Uploader(client, batch_bytes=1)
    chunks = sealed(3)
    up.add(chunks[0])
    up.add(chunks[1])  # flushing this batch waits for the first lookup: chunk 0 is queued
    up.abort()
    # the sender's call ends (its thread does not linger holding the stream open) ...
    assert answered.wait(WAIT_S)
    # ... and nothing is sent after the abort
    with pytest.raises(VaultError, match="aborted"):
        up.add(chunks[2])
        up.finish()
    assert client.put_messages == []  # the half-built message was dropped too
