"""The store marker: which vault a store folder belongs to, and in which format.

``<store>/BULWARK-STORE`` is written once, by ``vaultctl init`` (or ``vaultd --init-store``
for a store configured by hand), as protos/FORMAT.md "Store marker" describes. vaultd
serves a folder only through :func:`check_store`, so:

* a mistyped ``[store] path`` (a folder that does not exist, is empty, or holds something
  else) is a ``ConfigError`` naming the path, and nothing is created there;
* a marker whose ``version`` is newer than :data:`STORE_FORMAT_VERSION` (a store an upgraded
  vaultd has touched) is a ``StorageError`` telling the operator to upgrade, and nothing is
  changed;
* a store made before markers existed (it holds ``data/`` and no marker) is adopted: the
  marker is written with a new vault id and a WARNING says so, so an upgrade needs no
  manual step.

Older versions are read as they are: every version up to this one is served.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from bulwark.protos.contract import (
    STORE_FORMAT_VERSION,
    STORE_MARKER_FORMAT,
    STORE_MARKER_NAME,
    store_marker,
)
from bulwark.vault.errors import ConfigError, StorageError

log = logging.getLogger(__name__)
#: What a store made before markers holds (vault.store.fs layout).
_LEGACY_SIGNS = ("data",)


@dataclass(frozen=True)
class StoreMarker:
    """A parsed marker: the vault's id, the store format version and when it was made."""

    vault_id: str
    version: int
    created: str


def marker_path(root: Path) -> Path:
    return Path(root) / STORE_MARKER_NAME


def read_marker(root: Path) -> StoreMarker | None:
    """The marker of ``root``, ``None`` if it has none; ``StorageError`` if it is malformed
    or newer than this vaultd reads."""
    path = marker_path(root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise StorageError.from_os(f"store marker {path}", exc) from exc
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != STORE_MARKER_FORMAT:
            raise ValueError(f"format is not {STORE_MARKER_FORMAT!r}")
        version, vault_id = doc["version"], doc["vault_id"]
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError(f"version {version!r} is not a positive integer")
        if not isinstance(vault_id, str) or not vault_id:
            raise ValueError("vault_id is missing")
    except (ValueError, KeyError) as exc:
        raise StorageError(f"store marker {path}: not a Bulwark store marker: {exc}") from None
    if version > STORE_FORMAT_VERSION:
        raise StorageError(
            f"store {root}: format version {version} was written by a newer vaultd; this "
            f"vaultd reads versions up to {STORE_FORMAT_VERSION}. Upgrade vaultd to serve it "
            "(a store is never downgraded; docs/operations.md \"Upgrades\")"
        )
    return StoreMarker(vault_id, version, str(doc.get("created", "")))


def write_marker(root: Path) -> StoreMarker:
    """Write a new marker into ``root`` (which must exist); refuses to replace one."""
    created = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    vault_id = secrets.token_hex(16)
    path = marker_path(root)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o444)
    except FileExistsError:
        raise StorageError(f"store {root}: already has a marker; refusing to replace it") from None
    except OSError as exc:
        raise StorageError.from_os(f"store marker {path}", exc) from exc
    with os.fdopen(fd, "wb") as out:
        out.write(store_marker(vault_id, created))
        out.flush()
        os.fsync(out.fileno())
    return StoreMarker(vault_id, STORE_FORMAT_VERSION, created)


def check_store(root: Path, config_key: str = "store.path") -> StoreMarker:
    """The marker of the store vaultd is about to serve (see the module docstring)."""
    root = Path(root)
    marker = read_marker(root) if root.is_dir() else None
    if marker is not None:
        return marker
    if root.is_dir() and any((root / sign).is_dir() for sign in _LEGACY_SIGNS):
        marker = write_marker(root)
        log.warning("store %s predates store markers: marked as vault %s (format %d)",
                    root, marker.vault_id, marker.version)
        return marker
    what = "does not exist" if not root.exists() else (
        "is not a folder" if not root.is_dir() else "is not a Bulwark store (no "
        f"{STORE_MARKER_NAME})")
    raise ConfigError(
        f"{config_key}: {root} {what}. vaultd serves only a store made by `vaultctl init` "
        "(check the path), or create a new one on purpose with `vaultd --init-store`"
    )


def init_store(root: Path) -> StoreMarker:
    """Create a store at ``root`` for ``vaultd --init-store``: the folder must be missing
    or empty; a folder that is already a store keeps its marker."""
    root = Path(root)
    existing = read_marker(root) if root.is_dir() else None
    if existing is not None:
        return existing
    if root.exists() and (not root.is_dir() or any(root.iterdir())):
        raise ConfigError(f"store.path: {root} exists and is not an empty folder; "
                          "--init-store creates a store only in a new or empty folder")
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise StorageError.from_os(f"create store {root}", exc) from exc
    return write_marker(root)
