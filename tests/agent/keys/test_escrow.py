"""Key escrow blobs and paper sheets: round trips, wrong passphrases, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import KeyMaterialError
from bulwark.agent.keys.escrow import HEADER_SIZE, KdfParams, paper_sheet, read_paper, unwrap, wrap

FAST = KdfParams(log2_n=10, r=8, p=1)  # the format records parameters; tests keep them cheap
SECRET = b'version = 1\nkind = "tenant"\ntenant = "t"\nmaster = "AAAA"\n'
BLOB = wrap(SECRET, "correct horse", FAST)


def test_round_trip_and_header_size_matches_format():
    assert HEADER_SIZE == 43
    assert BLOB[:4] == b"BWKE" and BLOB[6] == 10
    assert unwrap(BLOB, "correct horse") == SECRET


def test_wrong_passphrase_and_every_altered_byte_are_refused():
    with pytest.raises(KeyMaterialError, match="wrong passphrase"):
        unwrap(BLOB, "wrong horse!")
    for i in range(len(BLOB)):
        altered = bytearray(BLOB)
        altered[i] ^= 0x01
        with pytest.raises(KeyMaterialError):
            unwrap(bytes(altered), "correct horse")


def test_short_passphrase_and_greedy_parameters_are_refused():
    with pytest.raises(KeyMaterialError, match="too short"):
        wrap(SECRET, "short")
    greedy = bytearray(BLOB)
    greedy[6] = 22  # n = 2^22 with r = 8 is 4 GiB of scrypt memory
    with pytest.raises(KeyMaterialError, match="out of range"):
        unwrap(bytes(greedy), "correct horse")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_key_material_error(data):
    with pytest.raises(KeyMaterialError):
        unwrap(data, "correct horse")


@settings(max_examples=40, deadline=None)
@given(st.integers(0, len(BLOB) - 1), st.integers(1, 255), st.binary(max_size=8))
def test_mutated_blobs_raise_only_key_material_error(at, xor, junk):
    mutated = bytearray(BLOB)
    mutated[at] ^= xor
    with pytest.raises(KeyMaterialError):
        unwrap(bytes(mutated) + junk, "correct horse")


@settings(max_examples=100, deadline=None)
@given(st.binary(min_size=1, max_size=300))
def test_paper_sheet_round_trips(secret):
    assert read_paper(paper_sheet(secret, "t")) == secret


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400))
def test_random_sheets_raise_only_key_material_error(text):
    try:
        read_paper(text)
    except KeyMaterialError:
        pass
