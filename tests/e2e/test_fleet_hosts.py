"""A fleet on one machine as on many: the vault on its own host and three GPU nodes on three
others, each a network namespace on a bridge this test makes (tests/lib/lan.py), the vault
reached by the name in its certificate (``vaultctl init --host vault.test``), which resolves
only inside the LAN. Each node joins with a token, backs up, and the operator restores its
snapshot onto that node. Nothing listens or connects outside the test's namespaces: vaultd
runs inside the vault's namespace, every client inside a node's, and the LAN's addresses
have no route from anywhere else.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BIN, Result
from tests.lib.lan import Lan

NODES = ("gpu-1", "gpu-2", "gpu-3")
NAME = "vault.test"
PORT, ENROLL_PORT = 7443, 7444  # inside the vault's namespace: nothing else is there
BOUND_S = 30


def run(lan: Lan, host: str, tool: str, config: Path, *args: object) -> Result:
    proc = subprocess.run(lan.command(host, BIN / tool, "--config", config, *args),
                          capture_output=True, text=True, timeout=120)
    return Result(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def lan():
    with Lan(f"bwf{os.getpid() % 100000}", ["vault", *NODES], {NAME: "vault"}) as made:
        yield made


@pytest.fixture
def vault_host(lan, tmp_path):
    """A site made with ``--host vault.test`` and its vaultd running on the vault's host."""
    site = tmp_path / "site"
    init = subprocess.run([BIN / "vaultctl", "init", site, "--host", NAME, "--port", str(PORT),
                           "--enroll-port", str(ENROLL_PORT), "--node", "seed", "--json"],
                          capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    proc = subprocess.Popen(lan.command("vault", BIN / "vaultd", "--config", site / "vault.toml"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + BOUND_S
        while (up := run(lan, NODES[0], "vaultctl", site / "operator.toml", "snapshots")).code:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, up.err
            time.sleep(0.2)
        yield site
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            assert proc.wait(timeout=BOUND_S) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_three_nodes_on_their_own_hosts_join_back_up_and_restore_by_name(lan, vault_host,
                                                                         tmp_path):
    site, operator = vault_host, vault_host / "operator.toml"
    assert f'address = "{NAME}:{PORT}"' in operator.read_text()  # a name, not 0.0.0.0
    pin = subprocess.run([BIN / "vaultctl", "pki", "fingerprint", site, "--json"],
                         capture_output=True, text=True, timeout=60)
    made = run(lan, "vault", "vaultctl", operator, "pki", "token", "--prefix", "gpu-",
               "--uses", str(len(NODES)), "--ttl", "1h", "--json")
    assert made.code == 0, made.err
    for i, node in enumerate(NODES):
        config = tmp_path / node / "agent.toml"
        joined = run(lan, node, "vault-agent", config, "enroll", "--vault",
                     f"{NAME}:{ENROLL_PORT}", "--ca-fingerprint",
                     json.loads(pin.stdout)["ca_fingerprint"], "--token",
                     made.json()["token"], "--name", node, "--json")
        assert joined.code == 0, joined.err
        assert joined.json()["vault"] == f"{NAME}:{PORT}"
        data = tmp_path / node / "data"
        data.mkdir()
        (data / "shard.bin").write_bytes(f"{node} ".encode() * 30_000 + os.urandom(i + 1))
        backup = run(lan, node, "vault-agent", config, "backup", data, "--json")
        assert backup.code == 0, backup.err
        target = tmp_path / node / "restored"
        restored = run(lan, node, "vaultctl", operator, "restore", backup.json()["snapshot"],
                       target, "--json")
        assert restored.code == 0, restored.err
        assert (target / data.relative_to("/") / "shard.bin").read_bytes() == \
            (data / "shard.bin").read_bytes()
    listed = run(lan, "vault", "vaultctl", operator, "snapshots", "--json")
    assert sorted(s["node"] for s in listed.json()) == list(NODES)

    # The name is what the certificate vouches for: the vault's bare address is refused.
    by_address = tmp_path / "by-address.toml"
    by_address.write_text(operator.read_text().replace(
        f"{NAME}:{PORT}", f"{lan.address['vault']}:{PORT}").replace(
        '"pki/', f'"{site}/pki/').replace('"tenant.key"', f'"{site}/tenant.key"'))
    refused = run(lan, NODES[0], "vaultctl", by_address, "snapshots")
    assert refused.code == 1 and "cannot reach the vault" in refused.err
    # Outside the LAN the name means nothing: only the LAN's hosts files carry it.
    assert NAME not in Path("/etc/hosts").read_text()
