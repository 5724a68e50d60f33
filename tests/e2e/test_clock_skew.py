"""A clock set backwards, with real processes under libfaketime (installed by .ci/run):
certificates become "not yet valid", and vaultd's log and the client's message say so
instead of an opaque handshake failure (issue 15)."""

from __future__ import annotations

import subprocess
import time

from tests.e2e.conftest import BIN
from tests.lib.faketime import faked_env

BACK = "-400d"  # before the site's certificates were issued




def test_a_client_clock_set_backwards_is_named_in_its_message(site):
    result = subprocess.run([BIN / "vaultctl", "--config", site.operator_toml, "snapshots"],
                            capture_output=True, text=True, timeout=60, env=faked_env(BACK))
    assert result.returncode == 1, result.stderr
    assert "not yet valid" in result.stderr and "This machine's clock says" in result.stderr


def test_a_vault_clock_set_backwards_is_logged_and_named_to_clients(site):
    assert site.stop() == 0
    log_path = site.dir / "vaultd.log"
    with log_path.open("w") as log_file:
        proc = subprocess.Popen([BIN / "vaultd", "--config", site.dir / "vault.toml"],
                                stdout=log_file, stderr=log_file, env=faked_env(BACK))
    try:
        for _ in range(200):  # bounded: 20 s
            if "listening on" in log_path.read_text():
                break
            time.sleep(0.1)
        result = site.ctl("snapshots")
        assert result.code == 1, result.err
        assert "If the vault's clock is set backwards" in result.err
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0
    assert "is not yet valid: this host's clock says" in log_path.read_text()
