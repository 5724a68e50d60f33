"""The daemon's renewal rule on injected time: not due, due but the vault unreachable, and
expired; each publishes the expiry and leaves the certificate as it was. The renewal that
succeeds, over real mTLS to a real vaultd, is tests/e2e/test_fleet_renewal.py."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from bulwark.agent.daemon.metrics import Metrics
from bulwark.agent.daemon.renewal import Renewer
from bulwark.agent.site import pki
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import free_port
from tests.lib.clock import NS_PER_S, FakeClock

# Real TLS checks real time: the certificate is valid now, the renewal rule sees FakeClock.
START = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
LIFE = dt.timedelta(days=30)
END = f"{START + LIFE:%Y-%m-%dT%H:%M:%SZ}"


@pytest.fixture
def node(tmp_path):
    """A node configuration whose certificate lives 30 days from START; no vault listens."""
    pki.init_ca(tmp_path / "pki")
    issued = pki.issue(tmp_path / "pki", "node", "n1", not_before=START, not_after=START + LIFE)
    path = tmp_path / "agent.toml"
    path.write_text(f"""
[vault]
address = "127.0.0.1:{free_port()}"
[tls]
ca = "pki/ca.crt"
cert = "pki/node-n1.crt"
key = "pki/node-n1.key"
[keys]
file = "node.key"
""")
    return load_agent_config(path), issued


def renewer(config, at: dt.datetime, renewed: list) -> Renewer:
    clock = FakeClock(int(at.timestamp()) * NS_PER_S)
    return Renewer(config, 1 / 3, Metrics(), lambda: renewed.append(1), clock)


def sample(r: Renewer, name: str) -> float | None:
    return r.metrics.registry.get_sample_value(name)


@pytest.mark.parametrize("days", [1, 19])
def test_not_due_publishes_the_expiry_and_touches_nothing(node, days):
    config, issued = node
    before = issued.cert.read_bytes()
    renewed: list = []
    r = renewer(config, START + dt.timedelta(days=days), renewed)  # 29 and 11 days left
    assert r.check() is False
    assert sample(r, "bulwark_agent_certificate_expiry_timestamp_seconds") == \
        (START + LIFE).timestamp()
    assert sample(r, "bulwark_agent_certificate_renew_failures_total") == 0
    assert issued.cert.read_bytes() == before and renewed == []


def test_due_with_the_vault_unreachable_fails_counts_and_keeps_the_certificate(node, caplog):
    config, issued = node
    before = (issued.cert.read_bytes(), issued.key.read_bytes())
    renewed: list = []
    r = renewer(config, START + dt.timedelta(days=21), renewed)  # 9 of 30 days left: due
    with caplog.at_level(logging.ERROR, "vault-agent"):
        assert r.check() is False
    assert sample(r, "bulwark_agent_certificate_renew_failures_total") == 1
    assert f"renewal due (expires {END}) FAILED: Renew: cannot reach the vault" in caplog.text
    assert (issued.cert.read_bytes(), issued.key.read_bytes()) == before and renewed == []


def test_expired_says_so_and_when_without_calling_the_vault(node, caplog):
    config, _ = node
    r = renewer(config, START + LIFE + dt.timedelta(seconds=1), [])
    with caplog.at_level(logging.ERROR, "vault-agent"):
        assert r.check() is False
    assert f"expired at {END} and cannot renew itself" in caplog.text
    assert "cannot reach" not in caplog.text
    assert sample(r, "bulwark_agent_certificate_renew_failures_total") == 1
