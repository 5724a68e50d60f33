"""Commands run when a window opens and when it closes (e.g. bring a link up, then down).

A hook is an argv list (no shell), run with a timeout; its exit status and the last lines of
its output are returned for the audit log. A failing open hook fails the window before any
connection is tried; the close hook runs whatever happened inside the window.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence


def run_hook(argv: Sequence[str], timeout_s: int) -> str | None:
    """Run ``argv``; ``None`` on exit status 0, else why it failed."""
    if not argv:
        return None
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout_s,
                              check=False)
    except FileNotFoundError:
        return f"{argv[0]}: no such command"
    except subprocess.TimeoutExpired:
        return f"{argv[0]}: still running after {timeout_s}s; killed"
    except OSError as exc:
        return f"{argv[0]}: {exc.strerror or exc}"
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        return f"{argv[0]}: exit status {proc.returncode}: {' / '.join(tail)}"
    return None
