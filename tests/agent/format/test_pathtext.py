"""agent.format.pathtext: one text per path, and back to the same bytes."""

from __future__ import annotations

import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulwark.agent.errors import ConfigError
from bulwark.agent.format.pathtext import parse_path, show_path


@pytest.mark.parametrize(("raw", "text"), [
    (b"data/plain.bin", "data/plain.bin"),
    (b"w/bad\xffname", "w/bad\\xffname"),
    (b"caf\xc3\xa9", "café"),
    (b"a\\b", "a\\\\b"),
    (b"a\\xff", "a\\\\xff"),  # a literal backslash-x is not confused with an escape
])
def test_show_and_parse(raw: bytes, text: str):
    assert show_path(os.fsdecode(raw)) == text
    assert os.fsencode(parse_path(text)) == raw


@given(st.binary(max_size=40))
def test_any_bytes_round_trip(raw: bytes):
    shown = show_path(os.fsdecode(raw))
    shown.encode("utf-8")  # valid UTF-8 text (JSON): raises on a lone surrogate
    assert os.fsencode(parse_path(shown)) == raw


@pytest.mark.parametrize("text", ["a\\qb", "end\\", "a\\x4"])
def test_a_stray_backslash_is_refused_with_its_position(text: str):
    with pytest.raises(ConfigError, match=r"--path .*position \d+"):
        parse_path(text, "--path")
