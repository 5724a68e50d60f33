"""Where the repository, its docs and its known-answer fixtures are."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
FORMAT_MD = REPO / "protos" / "FORMAT.md"
README = REPO / "README.md"


@cache
def kat_v1() -> dict:
    """The format-v1 known-answer vectors (tests/fixtures/kat_v1.json), parsed once."""
    return json.loads((FIXTURES / "kat_v1.json").read_text())


@cache
def kat_v2() -> dict:
    """The blob-format-v2 known-answer vectors (tests/fixtures/kat_v2.json), parsed once."""
    return json.loads((FIXTURES / "kat_v2.json").read_text())
