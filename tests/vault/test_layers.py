"""Only the gRPC edge (vault/rpc/) touches generated protobuf code (the core may use
protos/contract.py); nothing in vault imports agent."""

from __future__ import annotations

import ast
from pathlib import Path

VAULT = Path(__file__).resolve().parents[2] / "vault"
EDGE = VAULT / "rpc"


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_the_edge_imports_protos_and_nothing_imports_agent():
    for path in VAULT.rglob("*.py"):
        mods = imported_modules(path)
        assert not any(m == "agent" or m.startswith("bulwark.agent.") for m in mods), path
        if path.parent != EDGE:
            generated = [m for m in mods if m.startswith("bulwark.protos.bulwark")]
            assert not generated, (path, generated)
