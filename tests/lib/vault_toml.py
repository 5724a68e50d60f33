"""Edit a site's vault.toml in tests: set keys of one table, keeping every other table
(``vaultctl init`` already writes ``[retention]`` and ``[limits]``, so appending a second
``[retention]`` would be invalid TOML)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import tomli_w


def set_keys(path: Path, table: str, **values: object) -> None:
    """Set ``values`` in ``[table]`` of the TOML file at ``path`` (the table is created if
    missing; its other keys are kept)."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    doc.setdefault(table, {}).update(values)
    path.write_text(tomli_w.dumps(doc), encoding="utf-8")
