"""Replays tests/fixtures/hostile/: every input that once crashed a parser is now refused
with that parser's own error, naming the problem (issue 15)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from bulwark.vault.audit.log import AuditEntry
from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError

HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
FIXTURES = sorted(p for p in HOSTILE.iterdir() if p.name != "README.md")


def test_there_are_fixtures_to_replay():
    assert len(FIXTURES) >= 3


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: p.name)
def test_a_once_crashing_input_is_refused_cleanly(fixture, tmp_path):
    if fixture.name.startswith("vault-toml-"):
        target = tmp_path / "vault.toml"
        shutil.copyfile(fixture, target)
        with pytest.raises(ConfigError) as err:
            load_config(target)
        assert str(target) in str(err.value)
    elif fixture.name.startswith("audit-line-"):
        with pytest.raises(ValueError, match="not an audit entry"):
            AuditEntry.from_json(json.loads(fixture.read_text()))
    else:
        raise AssertionError(f"{fixture.name}: unknown prefix (see {HOSTILE}/README.md)")
