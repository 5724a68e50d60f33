"""agent.format.planes against FORMAT.md: plane j = bytes p with (p + phase) % w == j."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bulwark.agent.format.planes import merge_planes, plane_sizes, split_planes


def reference_planes(data: bytes, width: int, phase: int) -> list[bytes]:
    return [data[(j - phase) % width :: width] for j in range(width)]


@given(data=st.binary(max_size=300), width=st.sampled_from([2, 4]), phase=st.integers(0, 3))
def test_split_and_merge_match_the_definition(data: bytes, width: int, phase: int):
    phase %= width
    expected = reference_planes(data, width, phase)
    planes = split_planes(data, width, phase)
    assert [p.tobytes() for p in planes] == expected
    assert plane_sizes(len(data), width, phase) == [len(p) for p in expected]
    assert merge_planes(expected, width, phase, len(data)) == data


@pytest.mark.parametrize("width", [2, 4])
def test_large_chunk_round_trip_every_phase(width: int):
    data = bytes((i * 131 + (i >> 9)) & 0xFF for i in range((1 << 20) + 3))
    for phase in range(width):
        planes = split_planes(memoryview(data), width, phase)
        assert merge_planes([memoryview(p) for p in planes], width, phase, len(data)) == data


def test_merge_refuses_planes_of_the_wrong_length():
    with pytest.raises(ValueError, match="do not match"):
        merge_planes([b"ab", b"c"], 2, 0, 4)


def test_unsupported_width_refused():
    with pytest.raises(ValueError, match="width"):
        split_planes(b"abc", 3, 0)
