"""``agent.toml``: what a node or an operator needs to reach the vault and open data.

Every error names the file, the key and what is wrong, and raises ConfigError (exit 2).
Relative paths resolve against the directory of the configuration file, so a site
folder made by ``vaultctl init`` can be moved as a whole.
"""

from __future__ import annotations

import os
import socket
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bulwark.agent.client.channel import TlsFiles
from bulwark.agent.errors import ConfigError
from bulwark.protos.contract import DEFAULT_MAX_MESSAGE_BYTES

DEFAULT_WORKERS = 2


@dataclass(frozen=True)
class AgentConfig:
    """A validated agent configuration."""

    path: Path
    vault_address: str
    node: str
    key_file: Path
    cache_dir: Path
    workers: int
    max_message_bytes: int
    tls: TlsFiles | None = None  # None only with [vault] insecure = true
    insecure: bool = False


_SCHEMA: dict[str, dict[str, type]] = {
    "vault": {"address": str, "max_message_bytes": int, "insecure": bool},
    "tls": {"ca": str, "cert": str, "key": str},
    "node": {"name": str},
    "keys": {"file": str},
    "cache": {"path": str},
    "backup": {"workers": int},
}


#: How an error names each expected type ("must be an integer", never "must be a int").
_NOUNS: dict[type, str] = {str: "a string", int: "an integer", bool: "true or false"}

#: Tables the node daemon reads and validates itself (agent.daemon.config).
DAEMON_TABLES = ("backup_set", "drill", "metrics", "daemon")


def _check_schema(path: Path, doc: dict[str, Any]) -> None:
    for table, value in doc.items():
        if table in DAEMON_TABLES:
            continue
        if table not in _SCHEMA:
            raise ConfigError(f"{path}: unknown table [{table}] (known: {', '.join(_SCHEMA)})")
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: '{table}' must be a table")
        for key, item in value.items():
            expected = _SCHEMA[table].get(key)
            if expected is None:
                raise ConfigError(f"{path}: [{table}] unknown key '{key}'")
            if not isinstance(item, expected) or (isinstance(item, bool) and expected is not bool):
                raise ConfigError(
                    f"{path}: [{table}] {key} must be {_NOUNS[expected]}, got {item!r}"
                )


def _check_address(path: Path, address: str) -> str:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{path}: [vault] address must be HOST:PORT, got {address!r}")
    return address


def load_agent_config(path: str | os.PathLike[str]) -> AgentConfig:
    """Read and validate an agent configuration file.

    Raises ConfigError naming the file, the key and the reason for any problem.
    """
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: configuration file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    _check_schema(path, doc)
    base = path.resolve().parent
    vault = doc.get("vault", {})
    if "address" not in vault:
        raise ConfigError(f"{path}: [vault] address is required")
    keys = doc.get("keys", {})
    if "file" not in keys:
        raise ConfigError(f"{path}: [keys] file is required")
    workers = doc.get("backup", {}).get("workers", DEFAULT_WORKERS)
    if not 1 <= workers <= 256:
        raise ConfigError(f"{path}: [backup] workers must be between 1 and 256, got {workers}")
    max_message = vault.get("max_message_bytes", DEFAULT_MAX_MESSAGE_BYTES)
    if not 1 << 20 <= max_message <= 256 << 20:
        raise ConfigError(f"{path}: [vault] max_message_bytes must be 1 MiB..256 MiB")
    node = doc.get("node", {}).get("name") or socket.gethostname()
    _check_address(path, vault["address"])
    insecure = vault.get("insecure", False)
    tls_doc = doc.get("tls", {})
    tls = None
    if tls_doc or not insecure:
        for key in ("ca", "cert", "key"):
            if key not in tls_doc:
                raise ConfigError(
                    f"{path}: [tls] {key} is required (mTLS), unless [vault] insecure = true"
                )
        tls = TlsFiles(*(base / tls_doc[k] for k in ("ca", "cert", "key")))
    return AgentConfig(
        path=path,
        vault_address=_check_address(path, vault["address"]),
        node=node,
        key_file=base / keys["file"],
        cache_dir=base / doc.get("cache", {}).get("path", "cache"),
        workers=workers,
        max_message_bytes=max_message,
        tls=tls,
        insecure=insecure,
    )
