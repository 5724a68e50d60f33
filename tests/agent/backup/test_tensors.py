"""agent.backup.tensors: safetensors layouts and the hints they give chunks."""

from __future__ import annotations

import json
import struct

from bulwark.agent.backup.tensors import MIN_FILE_SIZE, TensorLayout, TensorRun, read_layout
from bulwark.agent.format.codec import TensorHint, decode_payload, encode_payload


def _safetensors(path, tensors):
    """tensors: [(name, dtype, nbytes)] laid out back to back; returns the data start."""
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, nbytes in tensors:
        header[name] = {"dtype": dtype, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header).encode()
    raw += b" " * (-len(raw) % 8)
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + bytes(range(256)) * (offset // 256 + 1))
    return 8 + len(raw)


def test_runs_merge_and_hints_carry_the_phase(tmp_path):
    f = tmp_path / "m.safetensors"
    start = _safetensors(f, [("a", "BF16", 1 << 20), ("b", "BF16", 1 << 20),
                             ("c", "F32", 1 << 20), ("d", "I64", 1 << 20)])
    layout = read_layout(f, f.stat().st_size)
    assert layout.runs == [TensorRun(start, start + (2 << 20), 2),
                           TensorRun(start + (2 << 20), start + (3 << 20), 4)]
    assert layout.hint(start + 1001, 300_000) == TensorHint(2, 1)
    assert layout.hint(start + (2 << 20) + 7, 300_000) == TensorHint(4, 3)
    assert layout.hint(0, 300_000) is None  # header
    assert layout.hint(start + (2 << 20) - 150_000, 300_000) is None  # two widths
    assert layout.hint(start + (2 << 20) - 290_001, 300_000) == TensorHint(2, 1)  # mostly one
    assert layout.hint(start + (3 << 20), 300_000) is None  # int64


def test_hinted_chunks_decode_without_the_layout(tmp_path):
    f = tmp_path / "m.safetensors"
    start = _safetensors(f, [("a", "F16", 1 << 20)])
    data = f.read_bytes()
    hint = read_layout(f, len(data)).hint(start + 3, 500_000)
    chunk = data[start + 3 : start + 500_003]
    assert decode_payload(encode_payload(chunk, hint), len(chunk)) == chunk


def test_not_safetensors_gives_no_layout(tmp_path):
    junk = tmp_path / "junk"
    for content in [b"\xff" * MIN_FILE_SIZE, struct.pack("<Q", 1 << 40) + b"{" * MIN_FILE_SIZE,
                    struct.pack("<Q", 5) + b"{nope" + bytes(MIN_FILE_SIZE),
                    struct.pack("<Q", 2) + b"[]" + bytes(MIN_FILE_SIZE)]:
        junk.write_bytes(content)
        assert read_layout(junk, len(content)) is None
    assert read_layout(tmp_path / "missing", 1 << 20) is None
    assert TensorLayout([]).hint(0, 10) is None
