"""``vaultctl init DIR --airgap``: an air-gap site, its own trust domain (docs/airgap.md).

::

    DIR/vault.toml              the air-gap vaultd: own CA, [retention] compliance, [airgap]
    DIR/pki/ca.crt, ca.key      the air-gap site's own CA: nothing the primary's CA issues is
                                accepted by this vault's listener
    DIR/pki/vault.crt/.key      this vault's server certificate
    DIR/pki/primary/ca.crt      the primary's CA (verifies the primary when pulling)
    DIR/pki/primary/replica.crt/.key   the replica identity the primary's CA issued
                                (``vaultctl pki issue PRIMARY_DIR --role replica --name N``)
    DIR/operator.toml, officer.toml, drill.toml   this site's own identities; they carry
                                DIR/tenant.key (a copy of the tenant key, brought offline)
    DIR/store/                  the air-gap store (with its marker)

No node identity and no enroll file: nodes never talk to the air-gap vault, and their keys
are pinned from the first snapshot seen (or enrolled ahead by the air-gap operator).
"""

from __future__ import annotations

import os
from pathlib import Path

from bulwark.agent.errors import ConfigError
from bulwark.agent.site.identity import TENANT_KEY, init_pki, issue_identity, write_toml
from bulwark.agent.site.init import write_store_marker

DEFAULT_WINDOW = ("0 2 * * *", "2h")
DEFAULT_RETENTION_DAYS = 90


def _copy(src: Path, dst: Path, mode: int, what: str) -> Path:
    try:
        data = src.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {src}: cannot read: {exc.strerror}") from None
    try:
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise ConfigError(f"{dst}: already exists; refusing to overwrite") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return dst


def init_airgap_site(directory: Path, port: int, primary: str, primary_ca: Path, *,
                     replica_cert: Path | None = None, replica_key: Path | None = None,
                     tenant_key: Path, primary_name: str = "",
                     window: tuple[str, str] = DEFAULT_WINDOW) -> list[Path]:
    """Write a new air-gap site into ``directory``; returns the paths written."""
    host, sep, p = primary.rpartition(":")
    if not sep or not host or not p.isdigit() or not 0 < int(p) < 65536:
        raise ConfigError(f"--primary must be HOST:PORT, got {primary!r}")
    if not 0 < port < 65536:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    if (replica_cert is None) != (replica_key is None):
        raise ConfigError("--replica-cert and --replica-key go together")
    vault_toml = directory / "vault.toml"
    if vault_toml.exists():
        raise ConfigError(f"{vault_toml} already exists: refusing to overwrite a site")
    directory.mkdir(parents=True, exist_ok=True)
    store = directory / "store"
    store.mkdir(mode=0o700, exist_ok=True)
    written = [write_store_marker(store)]
    address = f"127.0.0.1:{port}"
    written += init_pki(directory, hosts=("localhost", "127.0.0.1"))
    theirs = directory / "pki" / "primary"
    theirs.mkdir(mode=0o700, exist_ok=True)
    written.append(_copy(primary_ca, theirs / "ca.crt", 0o644, "--primary-ca"))
    if replica_cert is not None and replica_key is not None:
        written.append(_copy(replica_cert, theirs / "replica.crt", 0o644, "--replica-cert"))
        written.append(_copy(replica_key, theirs / "replica.key", 0o600, "--replica-key"))
    written.append(_copy(tenant_key, directory / TENANT_KEY, 0o600, "--tenant-key"))
    airgap = {"primary": primary, "primary_ca": "pki/primary/ca.crt",
              "cert": "pki/primary/replica.crt", "key": "pki/primary/replica.key",
              "lag_limit_hours": 48, "window": [{"cron": window[0], "duration": window[1]}]}
    if primary_name:
        airgap["primary_name"] = primary_name
    write_toml(vault_toml, {
        "server": {"listen": address},
        "store": {"path": "store"},
        "tls": {"ca": "pki/ca.crt", "cert": "pki/vault.crt", "key": "pki/vault.key",
                "revoked": []},
        "retention": {"mode": "compliance", "default_days": DEFAULT_RETENTION_DAYS},
        "airgap": airgap,
    })
    for role in ("operator", "officer", "drill"):
        written += issue_identity(directory, role, role, address=address,
                                  config_name=f"{role}.toml", node=role)
    return [vault_toml, store, *dict.fromkeys(written)]
