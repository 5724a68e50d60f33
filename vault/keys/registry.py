"""Enrolled nodes (name -> Ed25519 signing key) and key-escrow blobs, in ``keys.sqlite``.

Tables::

    nodes(name TEXT PK, public_key BLOB(32), enrolled_ns)    one row per enrolled node
    escrow(name TEXT PK, blob BLOB, stored_ns)               write-once escrow blobs
    retired(name TEXT PK, retired_ns, retired_by, reason)    retired nodes (refused callers)
    escrow_reads(name TEXT PK, last_ns)                      when each escrow was last read

Enrollment is explicit: an operator or officer calls ``Keys.EnrollNode``, or lists the node
in the enroll file named by vault.toml ``[keys] enroll_file`` (``vaultctl init`` and
``vaultctl pki issue --role node`` write it). The file is re-read when it changes, so a
newly issued node works without restarting vaultd. A node's key never changes once
enrolled: a different key for the same name is refused (issue a new name instead), so a
stolen node certificate cannot re-enroll the node with an attacker's signing key.

A retired node (``retire``) keeps its ``nodes`` row, so its old snapshots still verify, but
the vault refuses every call made with its certificates (``vault.rpc.authz``): retiring is
revoking by name, whatever certificate serial the node holds or renews to.

Escrow blobs are opaque here (FORMAT.md "Key escrow": passphrase-wrapped on the client)
and write-once, so nobody can replace a good escrow with one they know the passphrase of.
"""

from __future__ import annotations

import base64
import binascii
import logging
import sqlite3
import threading
import tomllib
from pathlib import Path

from bulwark.protos.contract import PUBLIC_KEY_SIZE
from bulwark.vault.errors import (
    ConfigError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    StorageError,
)
from bulwark.vault.worm.clock import Clock, SystemClock

log = logging.getLogger(__name__)

MAX_ESCROW_BYTES = 64 << 10
_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY, public_key BLOB NOT NULL, enrolled_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS escrow (
    name TEXT PRIMARY KEY, blob BLOB NOT NULL, stored_ns INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS retired (
    name TEXT PRIMARY KEY, retired_ns INTEGER NOT NULL, retired_by TEXT NOT NULL,
    reason TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS escrow_reads (
    name TEXT PRIMARY KEY, last_ns INTEGER NOT NULL);
"""


class Registry:
    """Thread-safe: one connection behind a lock, each method one short transaction."""

    def __init__(self, path: Path, clock: Clock | None = None,
                 enroll_file: Path | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._reload_lock = threading.Lock()  # one reload of the enroll file at a time
        self._enroll_file = enroll_file
        self._enroll_stamp: tuple[int, int] | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(f"open key registry {self.path}: {exc}") from exc
        self.load_enroll_file()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- nodes ----------------------------------------------------------------------------

    def enroll(self, name: str, public_key: bytes) -> tuple[bytes, int]:
        """Enroll ``name``; idempotent for the same key, ``PermissionDenied`` for another."""
        if not name or len(name) > 255 or name != name.strip():
            raise InvalidRequest(f"node name {name!r}: empty, too long or padded")
        if len(public_key) != PUBLIC_KEY_SIZE:
            raise InvalidRequest(
                f"signing_public_key: {len(public_key)} bytes, expected {PUBLIC_KEY_SIZE}"
            )
        with self._lock:
            try:
                row = self._db.execute(
                    "SELECT public_key, enrolled_ns FROM nodes WHERE name = ?", (name,)
                ).fetchone()
                if row is None:
                    now = self._clock.now_ns()
                    self._db.execute("INSERT INTO nodes VALUES (?, ?, ?)",
                                     (name, public_key, now))
                    return public_key, now
            except sqlite3.Error as exc:
                raise StorageError(f"key registry {self.path}: {exc}") from exc
        if bytes(row[0]) != public_key:
            raise PermissionDenied(
                f"node {name!r} is already enrolled with another signing key; "
                "a node's key never changes (enroll the replacement under a new name)"
            )
        return bytes(row[0]), row[1]

    def node_key(self, name: str) -> bytes | None:
        """The enrolled signing key of ``name`` (re-reading the enroll file if it changed)."""
        self.load_enroll_file()
        with self._lock:
            row = self._db.execute(
                "SELECT public_key FROM nodes WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else bytes(row[0])

    def nodes(self) -> list[tuple[str, bytes, int]]:
        self.load_enroll_file()
        with self._lock:
            rows = self._db.execute("SELECT * FROM nodes ORDER BY name").fetchall()
        return [(r[0], bytes(r[1]), r[2]) for r in rows]

    def retire(self, name: str, by: str, reason: str) -> tuple[int, str, str]:
        """Retire the enrolled node ``name``: ``(retired_ns, retired_by, reason)``. NotFound
        if it is not enrolled; InvalidRequest without a reason; a second retirement keeps
        the first."""
        if not reason.strip():
            raise InvalidRequest("retire: a reason is required (it is kept and audited)")
        if self.node_key(name) is None:
            raise NotFound(f"node {name!r} is not enrolled")
        with self._lock:
            try:
                self._db.execute("INSERT OR IGNORE INTO retired VALUES (?, ?, ?, ?)",
                                 (name, self._clock.now_ns(), by, reason))
                row = self._db.execute("SELECT retired_ns, retired_by, reason FROM retired"
                                       " WHERE name = ?", (name,)).fetchone()
            except sqlite3.Error as exc:
                raise StorageError(f"key registry {self.path}: {exc}") from exc
        return row[0], row[1], row[2]

    def retired(self) -> dict[str, tuple[int, str, str]]:
        """Every retired node: ``{name: (retired_ns, retired_by, reason)}``."""
        with self._lock:
            rows = self._db.execute("SELECT * FROM retired").fetchall()
        return {r[0]: (r[1], r[2], r[3]) for r in rows}

    def is_retired(self, name: str) -> bool:
        with self._lock:
            return self._db.execute(
                "SELECT 1 FROM retired WHERE name = ?", (name,)).fetchone() is not None

    def load_enroll_file(self) -> None:
        """Enroll every ``name = "<base64 key>"`` of the enroll file if it changed.

        A broken or conflicting entry is logged and skipped; the rest still enroll. Callers
        that find the file changed wait for one of them to finish enrolling it: a commit
        racing the reload must not conclude its node is unknown.
        """
        path = self._enroll_file
        if path is None:
            return
        with self._reload_lock:
            try:
                st = path.stat()
            except FileNotFoundError:
                return
            stamp = (st.st_mtime_ns, st.st_size)
            if stamp == self._enroll_stamp:
                return
            try:
                doc = tomllib.loads(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
                log.error("%s: cannot read the enroll file: %s", path, exc)
                doc = {}
            for name, text in doc.get("nodes", {}).items():
                try:
                    self.enroll(name, base64.b64decode(str(text), validate=True))
                except (binascii.Error, ValueError, InvalidRequest, PermissionDenied) as exc:
                    log.error("%s: node %r not enrolled: %s", path, name, exc)
            self._enroll_stamp = stamp  # only now: every entry of this version is enrolled

    # -- escrow ---------------------------------------------------------------------------

    def put_escrow(self, name: str, blob: bytes) -> int:
        if not name or len(name) > 255:
            raise InvalidRequest(f"escrow name {name!r}: empty or too long")
        if not 0 < len(blob) <= MAX_ESCROW_BYTES:
            raise InvalidRequest(f"escrow blob: {len(blob)} bytes, expected 1..{MAX_ESCROW_BYTES}")
        now = self._clock.now_ns()
        with self._lock:
            try:
                self._db.execute("INSERT INTO escrow VALUES (?, ?, ?)", (name, blob, now))
            except sqlite3.IntegrityError:
                raise PermissionDenied(
                    f"escrow {name!r} already exists; escrow entries are write-once"
                ) from None
            except sqlite3.Error as exc:
                raise StorageError(f"key registry {self.path}: {exc}") from exc
        return now

    def get_escrow(self, name: str) -> tuple[bytes, int]:
        with self._lock:
            row = self._db.execute(
                "SELECT blob, stored_ns FROM escrow WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise NotFound(f"escrow {name!r}: none stored")
        with self._lock:
            self._db.execute("INSERT INTO escrow_reads VALUES (?, ?) ON CONFLICT (name)"
                             " DO UPDATE SET last_ns = excluded.last_ns",
                             (name, self._clock.now_ns()))
        return bytes(row[0]), row[1]

    def escrows(self) -> list[tuple[str, int, int, int]]:
        """``(name, stored_ns, blob size, last read ns or 0)`` of every escrow, by name."""
        with self._lock:
            rows = self._db.execute(
                "SELECT e.name, e.stored_ns, length(e.blob), coalesce(r.last_ns, 0)"
                " FROM escrow e LEFT JOIN escrow_reads r ON r.name = e.name"
                " ORDER BY e.name").fetchall()
        return [(r[0], r[1], r[2], r[3]) for r in rows]


def check_enroll_file(path: Path | None) -> None:
    """Startup check: an enroll file that exists must parse (ConfigError otherwise)."""
    if path is None or not path.exists():
        return
    try:
        tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: keys.enroll_file: {exc}") from None
