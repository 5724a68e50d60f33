"""Creates a ready-to-run site folder: the embedded default of ``vaultctl init``.

A site is one vault and one node on this machine, on loopback: ``vault.toml`` for
vaultd (mTLS), ``agent.toml`` for the node (write-only: ``node.key`` cannot restore),
``operator.toml``/``officer.toml``/``drill.toml`` (these carry the tenant key), the CA and
every certificate under ``pki/`` (see ``agent.site.identity``), the tenant key (mode 0600),
the store folder, and the agent's cache folder. Everything is relative to the folder, so
it can be moved.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from pathlib import Path

import tomli_w

from bulwark.agent.errors import ConfigError
from bulwark.agent.keys.keyfile import generate_tenant_key_file
from bulwark.agent.site.identity import ENROLL_FILE, init_pki, issue_identity
from bulwark.protos.contract import STORE_MARKER_NAME, store_marker

DEFAULT_PORT = 7443
DEFAULT_MAXIMUM_DAYS = 3650  # [retention] maximum_days written into a new vault.toml
DEFAULT_UNCOMMITTED_BYTES = 1 << 40  # [limits] node_uncommitted_bytes (1 TiB)
#: Listen addresses that are no address a client can connect to.
WILDCARDS = ("0.0.0.0", "::", "[::]", "*")


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def init_site(directory: Path, port: int = DEFAULT_PORT, node: str | None = None,
              hosts: tuple[str, ...] = (), enroll_port: int | None = None) -> list[Path]:
    """Write a new site into ``directory`` and return the paths written.

    ``hosts`` are the names and addresses clients will reach the vault at: they go into the
    vault certificate's subject alternative names (with localhost and 127.0.0.1), vaultd
    then listens on every address (``0.0.0.0``), and the first one is the address every
    configuration names. ``enroll_port`` adds ``[enroll]`` (join tokens, renewals) with its
    listener on that port. Refuses (ConfigError) to touch a folder that already holds a
    site, so an existing tenant key is never overwritten.
    """
    for value, flag in ((port, "--port"), (enroll_port or 1, "--enroll-port")):
        if not 0 < value < 65536:
            raise ConfigError(f"{flag} must be between 1 and 65535, got {value}")
    for host in hosts:
        if not host or any(c in host for c in " /,[]") or host in WILDCARDS:
            raise ConfigError(f"--host {host!r}: give a DNS name or an IP address clients use")
    directory.mkdir(parents=True, exist_ok=True)
    vault_toml, agent_toml, key = (
        directory / "vault.toml", directory / "agent.toml", directory / "tenant.key")
    for existing in (vault_toml, agent_toml, key):
        if existing.exists():
            raise ConfigError(f"{existing} already exists: refusing to overwrite a site")
    store = directory / "store"
    store.mkdir(mode=0o700, exist_ok=True)
    write_store_marker(store)
    generate_tenant_key_file(key)
    address = f"{_bracket(hosts[0]) if hosts else '127.0.0.1'}:{port}"
    listen_host = "0.0.0.0" if hosts else "127.0.0.1"
    written = init_pki(directory, hosts=tuple(dict.fromkeys((*hosts, "localhost", "127.0.0.1"))))
    doc = {
        "server": {"listen": f"{listen_host}:{port}"},
        "store": {"path": "store"},
        "tls": {"ca": "pki/ca.crt", "cert": "pki/vault.crt", "key": "pki/vault.key",
                "revoked": []},
        "keys": {"enroll_file": ENROLL_FILE},
        # A node may ask for longer retention, never for more than this: in compliance
        # mode nobody could delete a snapshot a stolen node locked for 36,500 days.
        "retention": {"maximum_days": DEFAULT_MAXIMUM_DAYS},
        # What one node may bring in that no snapshot references yet (README, "Limits").
        "limits": {"node_uncommitted_bytes": DEFAULT_UNCOMMITTED_BYTES},
    }
    if enroll_port is not None:
        doc["enroll"] = {"listen": f"{listen_host}:{enroll_port}", "ca_key": "pki/ca.key",
                         "advertise": address}
    _write_toml(vault_toml, doc)
    node = node or socket.gethostname()
    written += issue_identity(directory, "node", node, address=address,
                              config_name="agent.toml")
    for role in ("operator", "officer", "drill"):
        written += issue_identity(directory, role, role, address=address,
                                  config_name=f"{role}.toml", node=node)
    return [vault_toml, key, store, *dict.fromkeys(written)]


def write_store_marker(store: Path) -> Path:
    """Mark ``store`` as this site's vault store (protos/FORMAT.md "Store marker"): vaultd
    serves no folder without it, so a mistyped ``[store] path`` is an error, not a new vault."""
    path = store / STORE_MARKER_NAME
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    except FileExistsError:
        raise ConfigError(f"{path} already exists: refusing to overwrite a store") from None
    with os.fdopen(fd, "wb") as out:
        out.write(store_marker(secrets.token_hex(16), created))
    return path


def _write_toml(path: Path, doc: dict) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump(doc, out)
