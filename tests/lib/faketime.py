"""Run a real process with its wall clock moved (Debian's libfaketime, apt package
faketime, installed by .ci/run), preloaded directly so signals reach the process itself
(the ``faketime`` wrapper forks). Monotonic time stays real: waits and sleeps behave."""

from __future__ import annotations

import os
from pathlib import Path


def faked_env(offset: str) -> dict[str, str]:
    """The environment for a process whose wall clock is ``offset`` away (``-400d``)."""
    found = sorted(Path("/usr/lib").glob("*/faketime/libfaketime.so.1"))
    assert found, "libfaketime not found: install Debian's faketime package (.ci/run does)"
    return {**os.environ, "LD_PRELOAD": str(found[0]), "FAKETIME": offset,
            "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
