"""Certificates renew without an outage: the node daemon renews its own before it expires and
keeps backing up across the rollover (a real vaultd with ``[enroll]``, real mTLS, a
certificate that lives seconds, the daemon's renewal rule on injected time:
tests/lib/clock.FakeClock), and ``vaultctl pki renew-vault`` re-issues the vault's on an
existing site, which the running vaultd serves from the next handshake.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import pytest
from cryptography import x509

from bulwark.agent.client.vault import VaultClient
from bulwark.agent.daemon.config import load_daemon_config
from bulwark.agent.daemon.run import Daemon
from bulwark.agent.daemon.sdnotify import Notifier
from bulwark.agent.keys.keyfile import load_keyring
from bulwark.agent.site import pki
from bulwark.agent.site.config import load_agent_config
from tests.e2e.conftest import BIN, Site, free_port
from tests.lib.clock import FakeClock

LIFE_S = 8  # the first certificate's real lifetime: it really expires during the test
BOUND_S = 30  # every wait below is bounded


@pytest.fixture
def enrolling_site(tmp_path):
    port = free_port()
    init = subprocess.run([BIN / "vaultctl", "init", tmp_path / "site", "--port", str(port),
                           "--enroll-port", str(free_port()), "--node", "seed"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    site = Site(tmp_path / "site", port)
    site.start()
    yield site
    assert site.stop() == 0


def wait_for(what: str, predicate) -> None:
    deadline = time.monotonic() + BOUND_S
    while not predicate():
        assert time.monotonic() < deadline, f"not within {BOUND_S}s: {what}"
        time.sleep(0.1)


def test_daemon_renews_before_expiry_and_backs_up_across_the_rollover(enrolling_site,
                                                                         tmp_path):
    site = enrolling_site
    start = dt.datetime.now(dt.UTC)
    short = pki.issue(site.dir / "pki", "node", "seed", stem="node-seed-short",
                      not_before=start - dt.timedelta(seconds=1),
                      not_after=start + dt.timedelta(seconds=LIFE_S))
    kept = site.dir / "pki" / "node-seed-kept"  # a copy of the first pair, for the end
    shutil.copy(short.cert, kept.with_suffix(".crt"))
    shutil.copy(short.key, kept.with_suffix(".key"))
    data = tmp_path / "data"
    data.mkdir()
    (data / "w.bin").write_bytes(b"weights" * 20_000)
    config_path = site.dir / "renewing.toml"
    config_path.write_text(site.agent_toml.read_text().replace(
        "pki/node-seed.", "pki/node-seed-short.") + f"""
[[backup_set]]
name = "small"
paths = ["{data}"]
schedule = "0 0 1 1 *"

[metrics]
listen = "127.0.0.1:0"

[daemon]
state_dir = "{tmp_path / 'state'}"
renew_share = 0.5
renew_every = 1
""")
    config = load_agent_config(config_path)
    clock = FakeClock(time.time_ns())  # the renewal rule's time: moves only when told
    metric = "bulwark_backup_last_success_timestamp_seconds"
    with VaultClient.from_config(config) as client:
        daemon = Daemon(config, load_daemon_config(config_path),
                        load_keyring(config.key_file, config.node), client, Notifier(),
                        clock=clock)
        runner = threading.Thread(target=daemon.run)
        runner.start()
        try:
            addr = tmp_path / "state" / "metrics.addr"
            wait_for("metrics address", addr.exists)
            url = f"http://{addr.read_text().strip()}/metrics"
            sample = daemon.metrics.registry.get_sample_value
            assert sample("bulwark_agent_certificate_expiry_timestamp_seconds") == \
                int((start + dt.timedelta(seconds=LIFE_S)).timestamp())
            daemon.schedule.run_now("small")
            wait_for("first backup", lambda: sample(metric, {"set": "small"}))
            assert pki.serial_of(config.tls.cert) == short.serial  # more than half left

            clock.advance(seconds=LIFE_S * 0.6)  # less than half its life left: due
            wait_for("renewal", lambda: pki.serial_of(config.tls.cert) != short.serial)
            text = urllib.request.urlopen(url, timeout=5).read().decode()
            assert "bulwark_agent_certificate_renewals_total 1.0" in text
            renewed = x509.load_pem_x509_certificate(config.tls.cert.read_bytes())
            assert renewed.not_valid_after_utc > start + dt.timedelta(days=1)
            assert sample("bulwark_agent_certificate_expiry_timestamp_seconds") == \
                int(renewed.not_valid_after_utc.timestamp())

            wait_for("the first certificate to expire for real",
                     lambda: dt.datetime.now(dt.UTC) > start + dt.timedelta(seconds=LIFE_S + 1))
            assert site.stop() == 0  # connections made before the expiry end with it
            site.start()
            first = sample(metric, {"set": "small"})
            (data / "w.bin").write_bytes(b"weights v2" * 20_000)
            daemon.schedule.run_now("small")
            wait_for("backup after the rollover",
                     lambda: sample(metric, {"set": "small"}) != first)
            assert not sample("bulwark_backup_failures_total", {"set": "small"})
        finally:
            daemon.stop.set()
            runner.join(BOUND_S)
        assert not runner.is_alive()
    snaps = site.ctl("snapshots", "--json").json()
    assert len([s for s in snaps if "set:small" in s["tags"]]) == 2
    audit = [json.loads(json.loads(line)["record"])
             for line in site.ctl("audit", "--json").out.splitlines()]
    [renewal] = [e for e in audit if e["action"] == "cert.renew"]
    assert renewal["outcome"] == "allowed" and renewal["detail"].startswith(
        f"serial {short.serial:x} -> {renewed.serial_number:x}")
    # The first certificate, kept aside, is refused before any connection: expired, and when.
    old = site.dir / "old.toml"
    old.write_text(config_path.read_text().replace("pki/node-seed-short.", "pki/node-seed-kept."))
    refused = site.agent("backup", data, config=old)
    assert refused.code == 2
    assert f"this certificate expired at {start + dt.timedelta(seconds=LIFE_S):%Y-%m-%dT%H:%M}" \
        in refused.err


def presented_serial(site: Site) -> int:
    """The serial of the certificate the running vaultd presents in a new handshake."""
    ctx = ssl.create_default_context(cafile=site.dir / "pki" / "ca.crt")
    ctx.load_cert_chain(site.dir / "pki" / "operator-operator.crt",
                        site.dir / "pki" / "operator-operator.key")
    with socket.create_connection(("127.0.0.1", site.port), timeout=10) as raw, \
            ctx.wrap_socket(raw, server_hostname="localhost") as tls:
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


def test_renew_vault_on_an_existing_site_keeps_its_names_adds_new_ones_and_serves_at_once(site):
    old = pki.serial_of(site.dir / "pki" / "vault.crt")
    assert presented_serial(site) == old
    renewed = site.ctl("pki", "renew-vault", site.dir, "--host", "vault.example", "--host",
                       "10.0.0.5", "--json")
    assert renewed.code == 0, renewed.err
    hosts = ["localhost", "127.0.0.1", "vault.example", "10.0.0.5"]
    assert renewed.json()["hosts"] == hosts
    assert pki.vault_hosts(site.dir / "pki" / "vault.crt") == hosts
    new = pki.serial_of(site.dir / "pki" / "vault.crt")
    assert new != old and not list((site.dir / "pki").glob("vault.next.*"))
    wait_for("vaultd to present the new certificate", lambda: presented_serial(site) == new)
    assert site.ctl("snapshots").code == 0  # clients trust it: same CA, same names
    missing = site.ctl("pki", "renew-vault", site.dir / "nowhere", "--json")
    assert missing.code == 2 and "nowhere/pki/vault.crt" in missing.err
    wildcard = site.ctl("pki", "renew-vault", site.dir, "--host", "0.0.0.0")
    assert wildcard.code == 2 and "--host '0.0.0.0': give a DNS name" in wildcard.err
    assert pki.serial_of(site.dir / "pki" / "vault.crt") == new  # nothing was written
