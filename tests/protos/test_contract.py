"""protos/contract.py is the one definition both sides use: the record types that mirror a
contract message have exactly its fields, and the shared rules behave as FORMAT.md says."""

from __future__ import annotations

import dataclasses

import blake3
import pytest

from bulwark.agent.client.vault import DrillRecordInfo
from bulwark.protos import contract
from bulwark.vault.drill_log import DrillEntry


@pytest.mark.parametrize("record", [DrillRecordInfo, DrillEntry])
def test_drill_record_types_have_the_messages_fields(record):
    assert tuple(f.name for f in dataclasses.fields(record)) == contract.DRILL_RECORD_FIELDS


def test_chunk_ids_digest_is_sorted_distinct_and_checks_sizes():
    a, b = b"\x01" * 32, b"\x02" * 32
    assert contract.chunk_ids_digest([b, a, b]) == blake3.blake3(a + b).digest()
    with pytest.raises(ValueError, match="32 bytes"):
        contract.chunk_ids_digest([b"short"])


def test_legacy_blob_shape():
    cid = b"\x07" * 32
    good = b"BWB1\x01\x00\x00\x00" + cid + bytes(12 + 16 + 10)
    assert contract.legacy_blob_problem(cid, good) is None
    assert "another chunk id" in contract.legacy_blob_problem(b"\x08" * 32, good)
    assert "magic" in contract.legacy_blob_problem(cid, b"JUNK" + good[4:])
    assert "shorter" in contract.legacy_blob_problem(cid, good[:40])
    assert contract.blob_address(good) == blake3.blake3(good).digest()
