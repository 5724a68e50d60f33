"""The sandbox's side of a drill, run as the real child process without isolation."""

from __future__ import annotations

import json
import subprocess

import blake3

from bulwark.agent.drill import sandbox
from bulwark.agent.drill.runner import run_sandbox


def _expected(root, names):
    for name in names:
        data = (root / name).read_bytes()
        yield ["/" + name, len(data), blake3.blake3(data).hexdigest()]


def test_expected_files_stream_line_by_line_and_problems_are_named(tmp_path):
    for i in range(300):
        (tmp_path / f"f{i}").write_bytes(b"x" * i)
    names = [f"f{i}" for i in range(300)]
    (tmp_path / "f7").write_bytes(b"changed")  # after the manifest's hash: must be caught
    expected = list(_expected(tmp_path, names))
    expected[7][2] = blake3.blake3(b"x" * 7).hexdigest()
    expected.append(["/gone", 3, "00" * 32])
    job = {"root": str(tmp_path), "isolated": False, "command": None, "timeout": 10}
    consumed = []

    def lazily():
        for line in expected:
            consumed.append(line)
            yield line

    result = run_sandbox(job, lazily(), isolated=False, timeout=60)
    assert len(consumed) == len(expected)
    assert result["verify"]["files_expected"] == 301
    assert result["verify"]["files_checked"] == 299
    problems = {p["path"]: p["error"] for p in result["verify"]["problems"]}
    assert set(problems) == {"/f7", "/gone"}
    assert problems["/gone"] == "missing"
    assert "content hash does not match" in problems["/f7"]


def test_job_lines_are_what_the_child_reads(tmp_path):
    (tmp_path / "a").write_bytes(b"abc")
    lines = [json.dumps({"root": str(tmp_path), "isolated": False, "command": "exit 3",
                         "timeout": 10}),
             json.dumps(["/a", 3, blake3.blake3(b"abc").hexdigest()])]
    proc = subprocess.run(sandbox.inside_command(False), input="\n".join(lines) + "\n",
                          capture_output=True, text=True, timeout=60, env=sandbox.child_env())
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["verify"] == {"files_checked": 1, "files_expected": 1, "problems": []}
    assert result["command"]["exit_code"] == 3
