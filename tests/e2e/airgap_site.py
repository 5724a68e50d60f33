"""An air-gap site next to a primary ``site``: made by the real CLIs (``vaultctl pki issue
--role replica`` on the primary, ``vaultctl init --airgap`` for the air-gap site) and run by
a real vaultd with its own CA."""

from __future__ import annotations

import subprocess
import tomllib
from pathlib import Path

import tomli_w

from tests.e2e.conftest import BIN, Site, free_port

#: A window that never opens by itself during a test (1 January, 00:00): tests sync by hand.
NEVER = {"cron": "0 0 1 1 *", "duration": "1h"}


def make_airgap(primary: Site, directory: Path, name: str = "ag1", primary_address: str = "",
                **airgap) -> Site:
    """Issue the replica identity on the primary, init the air-gap site, apply ``airgap``
    overrides to its ``[airgap]`` table (``window`` defaults to ``NEVER``); not started."""
    issued = subprocess.run(
        [BIN / "vaultctl", "pki", "issue", primary.dir, "--role", "replica", "--name", name,
         "--json"], capture_output=True, text=True, timeout=60)
    assert issued.returncode == 0, issued.stderr
    pki = primary.dir / "pki"
    port = free_port()
    init = subprocess.run(
        [BIN / "vaultctl", "init", directory, "--airgap", "--port", str(port),
         "--primary", primary_address or f"127.0.0.1:{primary.port}",
         "--primary-ca", pki / "ca.crt", "--tenant-key", primary.dir / "tenant.key",
         "--replica-cert", pki / f"replica-{name}.crt",
         "--replica-key", pki / f"replica-{name}.key", "--json"],
        capture_output=True, text=True, timeout=60)
    assert init.returncode == 0, init.stderr
    set_airgap(directory, **{"window": [NEVER], **airgap})
    return Site(directory, port)


def set_airgap(directory: Path, **airgap) -> None:
    """Rewrite keys of ``[airgap]``; ``table__key`` names a key of another table."""
    path = directory / "vault.toml"
    doc = tomllib.loads(path.read_text())
    for key, value in airgap.items():
        table, _, sub = key.partition("__")
        if sub:
            doc.setdefault(table, {})[sub] = value
        else:
            doc["airgap"][key] = value
    path.write_text(tomli_w.dumps(doc))


def sync(ag: Site, *args: object):
    return ag.ctl("airgap", "sync", "--now", "--json", *args)
