"""Only the gRPC edge (service.py, server.py) touches protos; nothing in vault imports agent."""

from __future__ import annotations

import ast
from pathlib import Path

VAULT = Path(__file__).resolve().parents[2] / "vault"
EDGE = {"service.py", "server.py", "drills_service.py", "keys_service.py",
        "retention_service.py"}


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
        assert not any(m == "agent" or m.startswith("agent.") for m in mods), path
        if path.name not in EDGE or path.parent != VAULT:
            assert not any(m.startswith("protos") for m in mods), path
