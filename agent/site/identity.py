"""Identities of a site: its CA, the vault's certificate, and one client configuration per
role, so that every role works out of the box (``vaultctl init``, ``vaultctl pki issue``).

::

    DIR/pki/                    ca.crt, ca.key (0600), vault.crt/.key, <role>-<name>.crt/.key
    DIR/pki/nodes.toml          [nodes] name = "<base64 Ed25519 signing key>"  (enrollment)
    DIR/agent.toml              role node, WRITE-ONLY key file DIR/node.key
    DIR/operator.toml           role operator, tenant key (restores, verifies)
    DIR/officer.toml            role officer (holds, governance bypass), tenant key
    DIR/drill.toml              role drill (restore drills), tenant key
    DIR/<role>-<name>.toml      further identities from ``vaultctl pki issue``

A node is enrolled (its signing key written to ``pki/nodes.toml``, which vaultd re-reads)
when its certificate is issued: the issuer holds the tenant key the signing key derives
from, so enrollment is explicit and needs no trust on first use.
"""

from __future__ import annotations

import base64
import os
import tomllib
from pathlib import Path

import tomli_w

from bulwark.agent.errors import ConfigError
from bulwark.agent.keys.keyfile import load_keyring, write_node_key_file
from bulwark.agent.site import pki

TENANT_KEY = "tenant.key"
ENROLL_FILE = "pki/nodes.toml"
#: Roles whose configurations carry the tenant key (and so the restore key).
RESTORE_ROLES = ("operator", "officer", "drill")


def init_pki(directory: Path, hosts: tuple[str, ...]) -> list[Path]:
    """CA and vault server certificate under DIR/pki."""
    pki_dir = directory / "pki"
    ca = pki.init_ca(pki_dir)
    vault = pki.issue(pki_dir, "vault", "vault", hosts=hosts, stem="vault")
    return [ca, vault.cert]


def enroll_node(directory: Path, node: str, tenant_key: Path) -> Path:
    """Add ``node``'s signing key (derived from the tenant key) to DIR/pki/nodes.toml."""
    path = directory / ENROLL_FILE
    doc = tomllib.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    nodes = doc.setdefault("nodes", {})
    key = load_keyring(tenant_key, node).signing_public_key(node)
    assert key is not None  # a tenant key derives every node's key
    text = base64.b64encode(key).decode("ascii")
    if nodes.get(node, text) != text:
        raise ConfigError(f"{path}: node {node!r} is already enrolled with another key")
    nodes[node] = text
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(tomli_w.dumps(doc).encode("utf-8"))
    os.replace(tmp, path)
    return path


def issue_identity(directory: Path, role: str, name: str, *, address: str | None = None,
                   config_name: str | None = None, node: str | None = None,
                   restore_key: bool | None = None) -> list[Path]:
    """Issue a certificate for ``role``/``name`` and write its client configuration.

    A node gets a write-only key file ``<name>.node.key`` (unless ``restore_key``) and is
    enrolled; the restore roles get the tenant key. ``node`` is the node name a restore
    role's configuration backs up and restores as (default: the site's node).
    """
    pki.check_name(name)
    address = address or _site_address(directory)
    issued = pki.issue(directory / "pki", role, name)
    tenant = directory / TENANT_KEY
    written = [issued.cert]
    if role == "node":
        node = name
        if restore_key:
            key_file = TENANT_KEY
        else:
            key_file = "node.key" if config_name == "agent.toml" else f"{name}.node.key"
            write_node_key_file(tenant, name, directory / key_file)
            written.append(directory / key_file)
        written.append(enroll_node(directory, name, tenant))
    else:
        node = node or _site_node(directory) or name
        key_file = TENANT_KEY if (restore_key is None and role in RESTORE_ROLES) or restore_key \
            else None
        if key_file is None:  # replica: no data keys at all; a node key file to parse config
            key_file = f"{role}-{name}.node.key"
            write_node_key_file(tenant, node, directory / key_file)
            written.append(directory / key_file)
    config = directory / (config_name or f"{role}-{name}.toml")
    rel = lambda p: os.path.relpath(p, directory)  # noqa: E731
    write_toml(config, {
        "vault": {"address": address},
        "node": {"name": node},
        "keys": {"file": key_file},
        "tls": {"ca": "pki/ca.crt", "cert": rel(issued.cert), "key": rel(issued.key)},
        "cache": {"path": "cache" if config_name == "agent.toml" else f"cache-{role}-{name}"},
        "backup": {"workers": min(2, os.cpu_count() or 1)},
    })
    written.append(config)
    return written


def write_toml(path: Path, doc: dict) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; refusing to overwrite") from None
    with os.fdopen(fd, "wb") as out:
        tomli_w.dump(doc, out)


def _site_address(directory: Path) -> str:
    """The address clients use: ``server.listen``, unless that is a wildcard (``0.0.0.0``),
    then the vault certificate's first name that is not loopback, with the listen port."""
    try:
        doc = tomllib.loads((directory / "vault.toml").read_text(encoding="utf-8"))
        listen = doc["server"]["listen"]
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{directory / 'vault.toml'}: cannot read server.listen: {exc}") from None
    host, _, port = listen.rpartition(":")
    if host.strip("[]") not in ("0.0.0.0", "::", "*", ""):
        return listen
    names = [h for h in pki.vault_hosts(directory / "pki" / "vault.crt")
             if h not in ("localhost", "127.0.0.1", "::1")]
    if not names:
        raise ConfigError(f"{directory / 'vault.toml'}: server.listen {listen!r} is no address "
                          "a client can use, and pki/vault.crt names no other host: "
                          "vaultctl pki renew-vault DIR --host NAME")
    return f"[{names[0]}]:{port}" if ":" in names[0] else f"{names[0]}:{port}"


def _site_node(directory: Path) -> str | None:
    try:
        doc = tomllib.loads((directory / "agent.toml").read_text(encoding="utf-8"))
        return doc["node"]["name"]
    except (OSError, KeyError, tomllib.TOMLDecodeError):
        return None
