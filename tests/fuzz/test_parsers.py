"""Hostile input at scale for the parsers (issue 15): hypothesis feeds random and mutated
bytes to the blob, manifest and root decoders, the agent's and the vault's configuration
loaders, and the audit entry reader. Each may refuse only with its package's own error
(BlobError, ManifestError/UnsafePathError, ConfigError, ValueError for an audit export
line), never another exception. The default tier runs a few hundred examples per parser; the
``slow`` tier tens of thousands. Inputs that ever crashed a parser are kept under
tests/fixtures/hostile/ and replayed by tests/fuzz/test_hostile_fixtures.py."""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulwark.agent.errors import BlobError, ConfigError, ManifestError, UnsafePathError
from bulwark.agent.format.blob import decode_blob
from bulwark.agent.format.constants import MANIFEST_MAGIC
from bulwark.agent.format.manifest import decode_manifest, decode_root
from bulwark.agent.site.config import load_agent_config
from bulwark.vault.audit.log import AuditEntry, verify_chain
from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError as VaultConfigError
from tests.e2e.conftest import BIN

TOML_SCALARS = st.one_of(st.booleans(), st.integers(-(2**63), 2**63 - 1),
                         st.floats(allow_nan=False), st.text(max_size=40),
                         st.lists(st.text(max_size=10), max_size=3))
SCALARS = st.one_of(st.none(), TOML_SCALARS)


def tiers(default: int, slow: int):
    """The test at ``default`` examples, and its ``slow`` twin at ``slow`` examples."""
    return pytest.mark.parametrize("examples", [
        default, pytest.param(slow, marks=[pytest.mark.slow, pytest.mark.timeout(1800)])])


def run(examples: int, strategy, check) -> None:
    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def one(value) -> None:
        check(value)

    one()


@tiers(300, 20_000)
def test_blob_decoder_refuses_random_bytes_with_blob_error(examples):
    def check(value):
        data, size = value
        with pytest.raises(BlobError):
            decode_blob(bytes(32), bytes(32), data, size)

    run(examples, st.tuples(st.one_of(st.binary(max_size=400),
                                      st.binary(max_size=80).map(lambda b: b"BWB" + b)),
                            st.integers(0, 1 << 22)), check)


@tiers(300, 20_000)
def test_manifest_decoder_raises_only_manifest_errors(examples):
    def check(pieces):
        try:
            for _ in decode_manifest(pieces):
                pass
        except (ManifestError, UnsafePathError):
            pass

    body = st.binary(max_size=300)
    run(examples, st.lists(st.one_of(body, body.map(lambda b: MANIFEST_MAGIC + b)),
                           min_size=1, max_size=4), check)


@tiers(300, 20_000)
def test_root_decoder_raises_only_manifest_error(examples):
    def check(data):
        try:
            decode_root(data)
        except ManifestError:
            pass

    run(examples, st.binary(max_size=400), check)


@pytest.fixture(scope="module")
def site_configs(tmp_path_factory) -> Path:
    """A real ``vaultctl init`` site: its vault.toml and agent.toml are what gets mutated."""
    directory = tmp_path_factory.mktemp("fuzz-config") / "site"
    init = subprocess.run([BIN / "vaultctl", "init", directory, "--port", "7443"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    return directory


def mutations(doc: dict):
    """Documents with one key of ``doc`` (at any depth) set to a random value or removed."""
    paths = []

    def walk(node, prefix):
        for key, value in node.items():
            paths.append((*prefix, key))
            if isinstance(value, dict):
                walk(value, (*prefix, key))

    walk(doc, ())

    def apply(choice):
        path, value, remove = choice
        copy = json.loads(json.dumps(doc))
        node = copy
        for key in path[:-1]:
            node = node[key]
        if remove:
            del node[path[-1]]
        else:
            node[path[-1]] = value
        return copy

    return st.tuples(st.sampled_from(paths), TOML_SCALARS, st.booleans()).map(apply)


def config_inputs(path: Path):
    doc = tomllib.loads(path.read_text())
    as_text = mutations(doc).map(lambda d: tomli_w.dumps(d).encode())
    return st.one_of(as_text, st.binary(max_size=300),
                     st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")))


@tiers(150, 5_000)
def test_agent_config_loader_raises_only_config_error(site_configs, examples):
    path = site_configs / "agent.toml"
    target = site_configs / "fuzzed-agent.toml"

    def check(data):
        target.write_bytes(data)
        try:
            load_agent_config(target)
        except ConfigError:
            pass

    run(examples, config_inputs(path), check)


@tiers(150, 5_000)
def test_vault_config_loader_raises_only_config_error(site_configs, examples):
    path = site_configs / "vault.toml"
    target = site_configs / "fuzzed-vault.toml"

    def check(data):
        target.write_bytes(data)
        try:
            load_config(target)
        except VaultConfigError:
            pass

    run(examples, config_inputs(path), check)


AUDIT_LINE = st.dictionaries(st.sampled_from(["seq", "record", "prev_hash", "hash", "x"]),
                             st.one_of(SCALARS, st.binary(max_size=40).map(bytes.hex)))


@tiers(300, 20_000)
def test_audit_export_lines_are_read_or_refused_with_value_error(examples):
    def check(lines):
        entries = []
        for line in lines:
            try:
                entries.append(AuditEntry.from_json(line))
            except ValueError:
                pass
        verify_chain(entries)  # a broken chain is reported, never raised

    run(examples, st.lists(AUDIT_LINE, max_size=5), check)
