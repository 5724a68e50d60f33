"""Fleet enrollment over real processes and real TLS: join tokens, pinning, misuse, renewal.

One vaultd with ``[enroll]`` on loopback (``vaultctl init --enroll-port``); nodes join with
``vault-agent enroll``, back up, and the operator restores what they wrote.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from pathlib import Path

import grpc
import pytest

from bulwark.agent.client.enroll import join, pinned_ca
from bulwark.agent.site.enroll import make_csr
from bulwark.protos.bulwark.v1 import enroll_pb2
from tests.e2e.conftest import BIN, Site, free_port

SAN_HOST = "localhost"  # in the vault certificate; resolves to loopback


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    base = tmp_path_factory.mktemp("fleet")
    port, enroll_port = free_port(), free_port()
    init = subprocess.run([BIN / "vaultctl", "init", base / "site", "--port", str(port),
                           "--enroll-port", str(enroll_port), "--node", "seed"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    site = Site(base / "site", port)
    site.start()
    site.enroll_address = f"{SAN_HOST}:{enroll_port}"
    fp = site.ctl("pki", "fingerprint", site.dir, "--json")
    site.pin = fp.json()["ca_fingerprint"]
    yield site, base
    assert site.stop() == 0


def token(site: Site, *args: str) -> dict:
    made = site.ctl("pki", "token", *args, "--json")
    assert made.code == 0, made.err
    return made.json()


def enroll(site: Site, config: Path, name: str, tok: str, pin: str | None = None):
    return site.run("vault-agent", "enroll", "--vault", site.enroll_address,
                    "--ca-fingerprint", pin or site.pin, "--token", tok, "--name", name,
                    "--json", config=config)


def audit(site: Site) -> list[dict]:
    out = site.ctl("audit", "--json")
    assert out.code == 0, out.err
    return [json.loads(json.loads(line)["record"]) for line in out.out.splitlines()]


def test_nodes_join_with_a_token_back_up_and_the_operator_restores(fleet, tmp_path):
    site, base = fleet
    tok = token(site, "--prefix", "gpu-", "--uses", "2", "--ttl", "1h")
    src = tmp_path / "src"
    src.mkdir()
    (src / "w.bin").write_bytes(b"weights" * 5000)
    for name in ("gpu-1", "gpu-2"):
        config = base / name / "agent.toml"
        joined = enroll(site, config, name, tok["token"])
        assert joined.code == 0, joined.err
        doc = joined.json()
        assert doc["vault"] == f"127.0.0.1:{site.port}" and doc["role"] == "node"
        assert not (base / name / "pki" / "ca.key").exists()  # nothing private came over
        assert (base / name / "node.key").stat().st_mode & 0o777 == 0o600
        done = site.agent("backup", src, "--json", config=config)
        assert done.code == 0, done.err
        snap = done.json()["snapshot"]
        restored = site.ctl("restore", snap, tmp_path / f"r-{name}", "--json")
        assert restored.code == 0, restored.err
        assert (tmp_path / f"r-{name}" / src.relative_to("/") / "w.bin").read_bytes() == \
            (src / "w.bin").read_bytes()
    third = enroll(site, base / "gpu-3" / "agent.toml", "gpu-3", tok["token"])
    assert third.code == 2 and "already used 2 of 2" in third.err
    joins = [e for e in audit(site) if e["action"] == "enroll.join"]
    assert [e["outcome"] for e in joins[-3:]] == ["allowed", "allowed", "refused"]
    assert joins[-1]["actor"] == f"token:{tok['id']}"
    listed = {t["id"]: t for t in site.ctl("pki", "tokens", "--json").json()}
    assert (listed[tok["id"]]["used"], listed[tok["id"]]["uses"]) == (2, 2)
    assert all("token" not in t for t in listed.values())  # secrets are never listed


@pytest.mark.parametrize("case", ["expired", "revoked", "other-name", "wrong-pin",
                                  "bad-token"])
def test_token_misuse_is_refused_and_audited(fleet, case):
    site, base = fleet
    tok = token(site, "--name", f"m-{case}", "--ttl", "1s" if case == "expired" else "1h")
    text, name, pin = tok["token"], f"m-{case}", None
    if case == "expired":
        time.sleep(1.2)
    elif case == "revoked":
        assert site.ctl("pki", "revoke-token", tok["id"]).code == 0
    elif case == "other-name":
        name = "m-someone-else"
    elif case == "wrong-pin":
        pin = "ab" * 32
    elif case == "bad-token":
        text = text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")
    result = enroll(site, base / f"m-{case}" / "agent.toml", name, text, pin)
    assert result.code == 2, result.err
    expect = {"expired": "expired at", "revoked": "revoked at",
              "other-name": f"is for name 'm-{case}', not 'm-someone-else'",
              "wrong-pin": "presents no CA with fingerprint",
              "bad-token": "unknown token or wrong secret"}[case]
    assert expect in result.err
    assert not (base / f"m-{case}" / "agent.toml").exists()
    if case == "wrong-pin":  # the token never left the node: still unused
        listed = {t["id"]: t for t in site.ctl("pki", "tokens", "--json").json()}
        assert listed[tok["id"]]["used"] == 0
    else:
        last = [e for e in audit(site) if e["action"] == "enroll.join"][-1]
        assert last["outcome"] == "refused" and expect.split(" '")[0] in last["detail"]


def test_a_csr_for_another_role_or_a_taken_name_is_refused(fleet):
    site, _ = fleet
    from bulwark.agent.keys.join import JoinToken

    ca = pinned_ca(site.enroll_address, site.pin)
    for name, role, code, words in (
            ("x-op", "operator", grpc.StatusCode.PERMISSION_DENIED, "for role 'node'"),
            ("seed", "node", grpc.StatusCode.PERMISSION_DENIED, "already enrolled")):
        tok = JoinToken.parse(token(site, "--name", name, "--ttl", "1h")["token"])
        _, csr = make_csr(name, role)
        request = enroll_pb2.JoinRequest(token_id=tok.id, token_secret=tok.auth, name=name,
                                         csr_der=csr, signing_public_key=b"\x07" * 32)
        from bulwark.agent.errors import AccessDenied

        with pytest.raises(AccessDenied, match=words):
            join(site.enroll_address, ca, request)
        listed = {t["id"]: t for t in site.ctl("pki", "tokens", "--json").json()}
        assert listed[tok.id]["used"] == 0  # a refused join gives its use back
        assert code is grpc.StatusCode.PERMISSION_DENIED


def test_nothing_but_join_is_served_without_a_certificate(fleet):
    site, _ = fleet
    ca = pinned_ca(site.enroll_address, site.pin)
    creds = grpc.ssl_channel_credentials(root_certificates=ca)
    with grpc.secure_channel(site.enroll_address, creds) as ch:
        for method in ("/bulwark.v1.Vault/ListSnapshots", "/bulwark.v1.Fleet/CreateToken",
                       "/bulwark.v1.Keys/EnrollNode", "/grpc.health.v1.Health/Check"):
            with pytest.raises(grpc.RpcError) as err:
                ch.unary_unary(method)(b"", timeout=10)
            assert err.value.code() == grpc.StatusCode.UNIMPLEMENTED, method
    with grpc.secure_channel(f"{SAN_HOST}:{site.port}", creds) as ch:  # main port: no cert
        with pytest.raises(grpc.RpcError) as err:
            ch.unary_unary("/bulwark.v1.Fleet/CreateToken")(b"", timeout=10)
        assert err.value.code() == grpc.StatusCode.UNAVAILABLE


def test_renewal_keeps_backing_up_and_revocation_still_applies(fleet, tmp_path):
    site, base = fleet
    tok = token(site, "--name", "gpu-r", "--ttl", "1h")
    config = base / "gpu-r" / "agent.toml"
    assert enroll(site, config, "gpu-r", tok["token"]).code == 0
    (tmp_path / "f").write_bytes(b"x" * 1000)
    first = json.loads(site.agent("renew", "--json", config=config).out)
    second = json.loads(site.agent("renew", "--json", config=config).out)
    assert first["serial"] != second["serial"]
    assert site.agent("backup", tmp_path / "f", config=config).code == 0
    renews = [e for e in audit(site) if e["action"] == "cert.renew"]
    assert renews[-1]["detail"].startswith(f"serial {first['serial']} -> {second['serial']}")
    toml = site.dir / "vault.toml"
    toml.write_text(toml.read_text().replace("revoked = []",
                                             f'revoked = ["{second["serial"]}"]'))
    refused = site.agent("backup", tmp_path / "f", config=config)
    assert refused.code == 2 and "revoked" in refused.err
    renew_refused = site.agent("renew", config=config)
    assert renew_refused.code == 2 and "revoked" in renew_refused.err


def test_an_expired_certificate_says_expired_and_when(fleet, tmp_path):
    site, _ = fleet
    from bulwark.agent.site import pki

    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    old = pki.issue(site.dir / "pki", "operator", "lapsed", not_before=past - dt.timedelta(1),
                    not_after=past)
    config = site.dir / "lapsed.toml"
    config.write_text(site.operator_toml.read_text().replace(
        "pki/operator-operator.", "pki/operator-lapsed."))
    result = site.ctl("snapshots", config=config)
    assert result.code == 2
    assert f"{old.cert}: this certificate expired at {past:%Y-%m-%dT%H:%M}" in result.err


def test_fleet_calls_on_a_vault_without_enroll_are_failed_precondition(site):
    """Not a malformed request: the vault is not set up for it (vault.toml has no [enroll])."""
    from bulwark.protos.bulwark.v1 import enroll_pb2_grpc
    from tests.e2e.conftest import tls_channel

    with tls_channel(site.dir, f"127.0.0.1:{site.port}") as channel:
        stub = enroll_pb2_grpc.FleetStub(channel)
        for call, request in ((stub.ListTokens, enroll_pb2.ListTokensRequest()),
                              (stub.Renew, enroll_pb2.RenewRequest(csr_der=b"x"))):
            with pytest.raises(grpc.RpcError) as err:
                call(request, timeout=10)
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert "has no [enroll] table" in err.value.details()
    for result in (site.ctl("pki", "token", "--name", "n1"), site.agent("renew")):
        assert result.code == 1 and "has no [enroll] table" in result.err, result.err


def test_no_caller_can_replace_an_enrolled_signing_key_through_the_api(fleet):
    """What holds for joined nodes (docs/threat-model.md "Joined nodes"): once a name has a
    signing key, no role replaces it through the vault's API, so restores keep checking a
    node's snapshots against the key it enrolled (tenant-derived or drawn when it joined)."""
    from bulwark.agent.client.vault import VaultClient
    from bulwark.agent.errors import AccessDenied
    from bulwark.agent.site.config import load_agent_config

    site, base = fleet
    tok = token(site, "--name", "gpu-k", "--ttl", "1h")
    assert enroll(site, base / "gpu-k" / "agent.toml", "gpu-k", tok["token"]).code == 0
    with VaultClient.from_config(load_agent_config(site.operator_toml)) as operator:
        before = {n: operator.enrolled_key(n) for n in ("seed", "gpu-k")}
        assert all(before.values())
        for name in before:
            with pytest.raises(AccessDenied, match="already enrolled with another signing key"):
                operator.enroll_node(name, b"\x05" * 32)
        assert {n: operator.enrolled_key(n) for n in before} == before
