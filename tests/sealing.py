"""Test helpers for blobs the filesystem store sealed with the immutable attribute.

Tests that tamper with stored blobs on purpose unseal them first; every test's ``tmp_path``
is unsealed at teardown (tests/conftest.py) so pytest can remove it.
"""

from __future__ import annotations

import os
from pathlib import Path

from bulwark.vault.store.fs import has_immutable_capability, set_immutable


def unseal(path: Path) -> None:
    """Clear the immutable attribute of ``path`` if this process can (no-op otherwise)."""
    if not has_immutable_capability():
        return
    try:
        set_immutable(path, False)
    except OSError:
        pass


def unseal_tree(root: Path) -> None:
    """Clear the immutable attribute of every regular file under ``root`` (bounded walk)."""
    if not has_immutable_capability() or not root.is_dir():
        return
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                unseal(path)
