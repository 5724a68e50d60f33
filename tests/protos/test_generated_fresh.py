"""The committed generated code is exactly what protos/generate.sh produces now."""

from __future__ import annotations

import filecmp
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "protos" / "bulwark" / "v1"


def test_generated_code_is_fresh(tmp_path):
    subprocess.run([ROOT / "protos" / "generate.sh", tmp_path], check=True, timeout=120)
    fresh_dir = tmp_path / "protos" / "bulwark" / "v1"
    fresh = sorted(p.name for p in fresh_dir.glob("*_pb2*.py*"))
    committed = sorted(p.name for p in GENERATED.glob("*_pb2*.py*"))
    assert fresh == committed, "generated files differ in name: run protos/generate.sh"
    stale = [n for n in fresh if not filecmp.cmp(fresh_dir / n, GENERATED / n, shallow=False)]
    assert stale == [], f"stale generated code (run protos/generate.sh): {stale}"
