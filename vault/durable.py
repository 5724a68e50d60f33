"""Files that survive a crash whole: written beside their final name, fsynced, renamed over
it, and the rename made durable by fsyncing the folder.

:func:`replace_json` is for the vault's small state files (the compliance clock, the air-gap
cursor): after it returns, a reader — or a vaultd restarted after a power cut — sees either
the old document or the new one, never a torn one. ``OSError`` propagates; callers turn it
into their own error naming what they were saving.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make the entries of folder ``path`` (a rename, a new file) durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_json(path: Path, document: Any) -> None:
    """Replace ``path`` with ``document`` as JSON, atomically and durably."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as out:
        json.dump(document, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)
