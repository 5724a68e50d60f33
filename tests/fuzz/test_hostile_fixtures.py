"""Replays tests/fixtures/hostile/: every input that once crashed a parser is now refused
with that parser's own error, naming the problem; an ``rpc-`` input, sent as the raw request
of a gRPC method of vaultd's server (in this process), is refused INVALID_ARGUMENT (issue 15)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import grpc
import pytest

from bulwark.vault.audit.log import AuditEntry
from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError
from tests.lib.inprocess_vault import InProcessVault

HOSTILE = Path(__file__).parents[1] / "fixtures" / "hostile"
#: ``rpc-<name>-``: the method whose request stream the bytes are sent on
RPC_METHODS = {"reflection": "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"}
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
    elif fixture.name.startswith("rpc-"):
        method = RPC_METHODS[fixture.name.split("-")[1]]
        vault = InProcessVault(tmp_path / "vault")
        try:
            with grpc.insecure_channel(vault.address) as channel:
                call = channel.stream_stream(method, request_serializer=None,
                                             response_deserializer=None)
                with pytest.raises(grpc.RpcError) as refused:
                    list(call(iter([fixture.read_bytes()]), timeout=10))
        finally:
            vault.close()
        assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "message 1: not a valid" in refused.value.details()
    else:
        raise AssertionError(f"{fixture.name}: unknown prefix (see {HOSTILE}/README.md)")
