"""Every RPC of every service x every role, over real mTLS with certificates from the
built-in PKI, against the one table in vault.rpc.authz; plus handshake and revocation refusals.

A denied call must come back PERMISSION_DENIED. An allowed call may fail for other reasons
(INVALID_ARGUMENT for an empty request, NOT_FOUND, UNIMPLEMENTED for a service not served
yet): anything but PERMISSION_DENIED/UNAUTHENTICATED shows authorization passed.
"""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection_pb2

from bulwark.agent.site import pki
from bulwark.agent.site.identity import issue_identity
from bulwark.agent.site.init import init_site
from bulwark.protos.bulwark.v1 import (
    audit_pb2,
    check_pb2,
    drills_pb2,
    enroll_pb2,
    forget_pb2,
    key_admin_pb2,
    keys_pb2,
    quota_pb2,
    replication_pb2,
    restore_keys_pb2,
    retention_pb2,
    signals_pb2,
    snapshots_pb2,
    stats_pb2,
    tags_pb2,
    vault_pb2,
)
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.config import load_config
from bulwark.vault.rpc.authz import PERMISSIONS, markdown_table
from bulwark.vault.rpc.identity import ROLES
from bulwark.vault.rpc.server import build_server, open_backends
from tests.e2e.conftest import free_port
from tests.lib.clock import FakeClock
from tests.lib.paths import README

DESCRIPTORS = (vault_pb2, retention_pb2, audit_pb2, keys_pb2, drills_pb2, snapshots_pb2,
               forget_pb2, stats_pb2, signals_pb2, tags_pb2, key_admin_pb2,
               replication_pb2, enroll_pb2, check_pb2, quota_pb2, restore_keys_pb2,
               health_pb2, reflection_pb2)
ROLE_FILES = {"node": "agent.toml", "operator": "operator.toml", "officer": "officer.toml",
              "drill": "drill.toml", "replica": "replica-replica.toml"}


def all_methods() -> list[tuple[str, bool, bool]]:
    """(full method name, client streaming, server streaming) of every generated service."""
    out = []
    for module in DESCRIPTORS:
        for service in module.DESCRIPTOR.services_by_name.values():
            for m in service.methods:
                out.append((f"/{service.full_name}/{m.name}", m.client_streaming,
                            m.server_streaming))
    return out


@pytest.fixture(scope="module")
def vault(tmp_path_factory):
    directory = tmp_path_factory.mktemp("authz") / "site"
    port = free_port()
    init_site(directory, port, "gpu-a")
    issue_identity(directory, "replica", "replica")
    config = load_config(directory / "vault.toml")
    store, catalog = open_backends(config)
    audit = AuditLog(directory / "audit.sqlite", FakeClock(time.time_ns(), step=1))
    server, _ = build_server(config, store, catalog, audit=audit)
    server.start()
    yield directory, port, audit
    server.stop(grace=None).wait()
    catalog.close()
    audit.close()


def channel(directory: Path, port: int, cert: Path, key: Path,
            ca: Path | None = None) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        (ca or directory / "pki" / "ca.crt").read_bytes(), key.read_bytes(), cert.read_bytes()
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", creds)


def role_channel(directory: Path, port: int, role: str) -> grpc.Channel:
    from bulwark.agent.client.channel import channel_for
    from bulwark.agent.site.config import load_agent_config

    return channel_for(load_agent_config(directory / ROLE_FILES[role]))


def call(ch: grpc.Channel, method: str, client_stream: bool, server_stream: bool):
    """Call ``method`` with one empty message; return the status code (OK if none)."""
    kind = {(False, False): ch.unary_unary, (False, True): ch.unary_stream,
            (True, False): ch.stream_unary, (True, True): ch.stream_stream}
    stub = kind[(client_stream, server_stream)](method)
    request = iter([b""]) if client_stream else b""
    try:
        result = stub(request, timeout=10)
        if server_stream:  # the first message (or the status) is enough; Watch never ends
            next(iter(result), None)
            result.cancel()
    except grpc.RpcError as exc:
        return exc.code()
    return grpc.StatusCode.OK


def test_table_covers_exactly_the_generated_methods():
    methods = {m for m, _, _ in all_methods()}
    assert set(PERMISSIONS) == methods, "every RPC needs a table entry, and no stale ones"
    assert all(roles <= set(ROLES) for roles in PERMISSIONS.values())


@pytest.mark.parametrize("role", ROLES)
def test_every_rpc_for_every_role_matches_the_table(vault, role):
    directory, port, _ = vault
    with role_channel(directory, port, role) as ch:
        for method, cs, ss in all_methods():
            code = call(ch, method, cs, ss)
            if role in PERMISSIONS[method]:
                assert code not in (grpc.StatusCode.PERMISSION_DENIED,
                                    grpc.StatusCode.UNAUTHENTICATED), (method, role, code)
            else:
                assert code == grpc.StatusCode.PERMISSION_DENIED, (method, role, code)


def test_refusals_are_audited_with_the_caller(vault):
    directory, port, audit = vault
    with role_channel(directory, port, "node") as ch:
        assert call(ch, "/bulwark.v1.Retention/SetLegalHold", False, False) == \
            grpc.StatusCode.PERMISSION_DENIED
    last = list(audit.entries())[-1].fields
    assert (last["actor"], last["role"], last["outcome"]) == ("gpu-a", "node", "refused")
    assert last["action"] == "/bulwark.v1.Retention/SetLegalHold"


def test_foreign_ca_and_expired_certificates_fail_the_handshake(vault, tmp_path):
    directory, port, _ = vault
    foreign = tmp_path / "foreign"
    pki.init_ca(foreign)
    rogue = pki.issue(foreign, "operator", "operator")
    with channel(directory, port, rogue.cert, rogue.key) as ch:
        assert call(ch, "/bulwark.v1.Vault/ListSnapshots", False, False) == \
            grpc.StatusCode.UNAVAILABLE
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    expired = pki.issue(directory / "pki", "operator", "old-operator",
                        not_before=past - dt.timedelta(days=1), not_after=past)
    with channel(directory, port, expired.cert, expired.key) as ch:
        assert call(ch, "/bulwark.v1.Vault/ListSnapshots", False, False) == \
            grpc.StatusCode.UNAVAILABLE
    # Without a client certificate at all: refused at the handshake too.
    creds = grpc.ssl_channel_credentials((directory / "pki" / "ca.crt").read_bytes())
    with grpc.secure_channel(f"127.0.0.1:{port}", creds) as ch:
        assert call(ch, "/grpc.health.v1.Health/Check", False, False) == \
            grpc.StatusCode.UNAVAILABLE


def test_a_certificate_without_a_known_role_is_unauthenticated(vault):
    directory, port, _ = vault
    # A server certificate presented as a client one: CA-signed but names no role.
    # (EKU serverAuth may already fail the handshake; either way it never gets in.)
    issued = pki.issue(directory / "pki", "vault", "not-a-client", stem="stray")
    with channel(directory, port, issued.cert, issued.key) as ch:
        assert call(ch, "/bulwark.v1.Vault/ListSnapshots", False, False) in (
            grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE)


def test_revoked_serial_is_refused_on_the_next_call(vault):
    directory, port, audit = vault
    issued = pki.issue(directory / "pki", "operator", "leaver")
    with channel(directory, port, issued.cert, issued.key) as ch:
        assert call(ch, "/bulwark.v1.Vault/ListSnapshots", False, False) == grpc.StatusCode.OK
        toml = directory / "vault.toml"
        text = toml.read_text().replace("revoked = []",
                                        f'revoked = ["{issued.serial:x}"]')
        toml.write_text(text)
        assert call(ch, "/bulwark.v1.Vault/ListSnapshots", False, False) == \
            grpc.StatusCode.UNAUTHENTICATED
    last = list(audit.entries())[-1].fields
    assert last["outcome"] == "refused" and "revoked" in last["detail"]


def test_readme_table_matches_the_code():
    readme = README.read_text()
    assert markdown_table() in readme, "regenerate: python -c 'import vault.rpc.authz as a; " \
        "print(a.markdown_table())'"
