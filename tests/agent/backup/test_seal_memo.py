"""agent.backup.seal_memo: a chunk sealed once is recalled, not sealed again; a recalled
chunk the vault lacks is sealed on demand to the same id; a wrong memo row is caught."""

from __future__ import annotations

import os
import sqlite3

import pytest

from bulwark.agent.backup.seal_lanes import SealLanes
from bulwark.agent.backup.seal_memo import FILE_NAME, SealMemo
from bulwark.agent.backup.uploader import Uploader
from bulwark.agent.errors import BlobError
from bulwark.agent.format.blob import SealedChunk, seal_chunk, unrecalled
from bulwark.agent.format.codec import TensorHint
from bulwark.agent.format.crypto import chunk_id_and_key
from tests.lib.fake_vault_client import FakeVaultClient

ID_KEY = bytes(range(32))
DATA = os.urandom(300_000) + bytes(300_000)


@pytest.fixture
def memo(tmp_path):
    m = SealMemo(tmp_path)
    yield m
    m.close()


def seal_twice(tmp_path) -> tuple[SealedChunk, SealedChunk]:
    first_memo = SealMemo(tmp_path)
    lanes = SealLanes(ID_KEY, 2, memo=first_memo)
    first = lanes.seal(DATA).result()
    lanes.close()
    first_memo.close()
    again_memo = SealMemo(tmp_path)  # a later backup: the rows were written to disk
    lanes = SealLanes(ID_KEY, 2, memo=again_memo)
    second = lanes.seal(DATA).result()
    lanes.close()
    again_memo.close()
    return first, second


def test_a_chunk_sealed_once_is_recalled_with_its_id_key_and_facts(tmp_path):
    first, second = seal_twice(tmp_path)
    assert first == seal_chunk(ID_KEY, DATA)  # the memo does not change what is sealed
    assert second.blob is None and second.plaintext == DATA
    assert (second.chunk_id, second.key, second.size, second.facts) == (
        first.chunk_id, first.key, first.size, first.facts)
    assert unrecalled(second).blob == first.blob  # sealed on demand: the same blob


def test_the_hint_is_part_of_what_is_recalled(memo):
    tag, _ = chunk_id_and_key(ID_KEY, DATA)
    plain = seal_chunk(ID_KEY, DATA)
    memo.note(tag, None, plain.chunk_id, plain.facts)
    assert memo.recall(tag, None) == (plain.chunk_id, plain.facts)
    assert memo.recall(tag, TensorHint(2, 0)) is None


def test_a_new_generation_drops_every_row(tmp_path):
    tag, _ = chunk_id_and_key(ID_KEY, DATA)
    m = SealMemo(tmp_path)
    m.note(tag, None, b"i" * 32, None)
    m.close()
    db = sqlite3.connect(tmp_path / FILE_NAME)
    db.execute("UPDATE generation SET value = 'v1:old'")
    db.commit()
    db.close()
    m = SealMemo(tmp_path)
    assert m.recall(tag, None) is None
    m.close()


def test_the_uploader_seals_a_recalled_chunk_the_vault_lacks(tmp_path):
    _, recalled = seal_twice(tmp_path)
    vault = FakeVaultClient()
    up = Uploader(vault)
    up.add(recalled)
    up.finish()
    assert vault.blobs == {recalled.chunk_id: seal_chunk(ID_KEY, DATA).blob}


def test_a_recalled_chunk_the_vault_holds_is_never_sealed(tmp_path, monkeypatch):
    first, recalled = seal_twice(tmp_path)
    vault = FakeVaultClient()
    vault.hold(first.blob)
    monkeypatch.setattr("bulwark.agent.backup.uploader.unrecalled",
                        lambda s: pytest.fail("sealed although the vault holds it"))
    up = Uploader(vault)
    up.add(recalled)
    assert up.finish().new_chunks == 0


def test_a_memo_row_that_lies_is_an_integrity_error(memo):
    _, key = chunk_id_and_key(ID_KEY, DATA)
    liar = SealedChunk(b"\x01" * 32, key, None, len(DATA), plaintext=DATA)
    with pytest.raises(BlobError, match="seal memo recalled an id"):
        unrecalled(liar)
