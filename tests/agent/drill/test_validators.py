"""Built-in validators: a good safetensors file and tar pass; every kind of damage names why."""

from __future__ import annotations

import io
import json
import struct
import tarfile
from pathlib import Path

from bench.workload import write_safetensors
from bulwark.agent.drill.validators import validate_safetensors, validate_tar, validate_tree


def _st(path: Path, shapes=(("a", [4, 8]), ("b", [16]))) -> Path:
    write_safetensors(path, list(shapes), lambda name, n: bytes(2 * n), {"format": "pt"})
    return path


def _raw(path: Path, header: dict, data: bytes) -> Path:
    blob = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)
    return path


def test_good_safetensors_passes(tmp_path):
    check = validate_safetensors(_st(tmp_path / "m.safetensors"), "/m.safetensors")
    assert check.ok, check.detail
    assert check.detail == "2 tensors, 96 data bytes"


def test_truncated_safetensors_fails_with_reason(tmp_path):
    path = _st(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[:-10])
    check = validate_safetensors(path, "/m.safetensors")
    assert not check.ok and "truncated" in check.detail


def test_header_running_past_the_file(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 1000) + b"{}")
    assert "runs past the end" in validate_safetensors(path, "/m").detail


def test_oversized_header_length_is_bounded(tmp_path):
    path = tmp_path / "m.safetensors"
    path.write_bytes(struct.pack("<Q", 1 << 40) + b"{}")
    assert "exceeds" in validate_safetensors(path, "/m").detail


def test_dtype_shape_size_disagreement(tmp_path):
    path = _raw(tmp_path / "m.safetensors",
                {"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 8]}}, bytes(8))
    assert "needs 16 bytes, offsets give 8" in validate_safetensors(path, "/m").detail


def test_gap_overlap_and_uncovered_tail(tmp_path):
    gap = _raw(tmp_path / "g.safetensors", {
        "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [6, 10]}}, bytes(10))
    assert "gap before offset 6" in validate_safetensors(gap, "/g").detail
    overlap = _raw(tmp_path / "o.safetensors", {
        "a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
        "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}}, bytes(6))
    assert "overlap" in validate_safetensors(overlap, "/o").detail
    tail = _raw(tmp_path / "t.safetensors",
                {"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}, bytes(9))
    assert "cover 4 bytes but the data section is 9" in validate_safetensors(tail, "/t").detail


def test_bad_json_and_unknown_dtype(tmp_path):
    bad = tmp_path / "b.safetensors"
    bad.write_bytes(struct.pack("<Q", 3) + b"{x}")
    assert "not valid JSON" in validate_safetensors(bad, "/b").detail
    unknown = _raw(tmp_path / "u.safetensors",
                   {"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 1]}}, bytes(1))
    assert "unknown dtype" in validate_safetensors(unknown, "/u").detail


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_tar_members_readable(tmp_path):
    path = _tar(tmp_path / "s.tar", {"0.jpg": b"x" * 5000, "0.json": b"{}"})
    check = validate_tar(path, "/s.tar")
    assert check.ok and check.detail == "2 members"


def test_truncated_tar_fails(tmp_path):
    path = _tar(tmp_path / "s.tar", {"0.jpg": b"x" * 50000, "1.jpg": b"y" * 50000})
    path.write_bytes(path.read_bytes()[:30000])
    check = validate_tar(path, "/s.tar")
    assert not check.ok, check.detail


def test_tree_runs_matching_validators_in_path_order(tmp_path):
    _st(tmp_path / "b" / "m.safetensors")
    _tar(tmp_path / "a.tar", {"x": b"1"})
    (tmp_path / "notes.txt").write_text("not validated")
    checks = list(validate_tree(tmp_path))
    assert [(c.validator, c.path, c.ok) for c in checks] == [
        ("tar", "/a.tar", True), ("safetensors", "/b/m.safetensors", True)]
