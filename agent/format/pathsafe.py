"""Manifest path rules: what a path may look like, and that restores stay inside the target.

A manifest path is relative, '/'-separated, and has no empty, '.' or '..' component and no
NUL. Restore code joins it with :func:`target_path`, checks the parent directory with
:func:`ensure_within` (which catches symlinks planted to point outside), and opens files with
``O_NOFOLLOW`` so the last component cannot be a symlink either.
"""

from __future__ import annotations

import os
from pathlib import Path

from bulwark.agent.errors import UnsafePathError


def check_manifest_path(path: str) -> str:
    """Return ``path`` if it is a safe manifest path, else raise UnsafePathError naming why."""
    if not isinstance(path, str):
        raise UnsafePathError(f"manifest path {path!r} is not a string")
    if not path:
        raise UnsafePathError("manifest path is empty")
    if "\x00" in path:
        raise UnsafePathError(f"manifest path {path!r} contains a NUL byte")
    if path.startswith("/"):
        raise UnsafePathError(f"manifest path {path!r} is absolute")
    if path.endswith("/"):
        raise UnsafePathError(f"manifest path {path!r} ends with '/'")
    for part in path.split("/"):
        if part == "":
            raise UnsafePathError(f"manifest path {path!r} has an empty component")
        if part in (".", ".."):
            raise UnsafePathError(f"manifest path {path!r} has a {part!r} component")
    return path


def target_path(target: Path, rel: str) -> Path:
    """``target / rel`` after checking ``rel``; symlinks are not resolved here."""
    return Path(target).joinpath(*check_manifest_path(rel).split("/"))


def ensure_within(target: Path, candidate: Path) -> None:
    """Refuse ``candidate`` unless its parent, with symlinks resolved, lies inside ``target``."""
    root = os.path.realpath(target)
    parent = os.path.realpath(os.path.dirname(os.path.abspath(candidate)))
    if parent != root and not parent.startswith(root.rstrip(os.sep) + os.sep):
        raise UnsafePathError(
            f"{candidate}: its directory resolves to {parent}, outside the restore target {root}"
        )
