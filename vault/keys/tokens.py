"""Join tokens (``tokens.sqlite``): who may join the fleet, as which role, how often, until when.

Table::

    tokens(id TEXT PK, auth_hash BLOB(32), role, name, prefix, expires_ns, uses, used,
           revoked_ns, created_by, created_ns, sealed_bundle BLOB)

A token is ``id`` (public, 16 hex digits) plus a secret the vault never stores: only
SHA-256 of the secret's auth half is kept (``auth_hash``), so a copy of this file lets nobody
join. The creator (``vaultctl pki token``) chooses the id and the secret, and may leave a
``sealed_bundle`` that only the secret's other half opens (FORMAT.md "Join token"); the vault
hands it back to whoever redeems the token and cannot read it.

:meth:`TokenStore.redeem` checks, in this order, and refuses with a message that says which:
unknown id or wrong secret (one message, so a guess learns nothing), revoked, expired, used
up, name outside the token's name or prefix, role other than the token's. A redeemed use is
counted in the same transaction as the checks, so K concurrent joins never exceed K uses;
:meth:`refund` gives a use back when the join fails after it (the CSR or the signing key is
refused), so a refused join does not burn a single-use token.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path

from bulwark.vault.caller import ROLES
from bulwark.vault.errors import (
    InvalidRequest,
    NotFound,
    PermissionDenied,
    StorageError,
    Unauthenticated,
)
from bulwark.vault.worm.clock import Clock

MAX_USES = 100_000
MAX_TTL_S = 30 * 86_400
MIN_TTL_S = 1
MAX_BUNDLE_BYTES = 4096
_ID = re.compile(r"^[0-9a-f]{16}$")
_SCHEMA = """
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, auth_hash BLOB NOT NULL, role TEXT NOT NULL, name TEXT NOT NULL,
    prefix TEXT NOT NULL, expires_ns INTEGER NOT NULL, uses INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0, revoked_ns INTEGER NOT NULL DEFAULT 0,
    created_by TEXT NOT NULL, created_ns INTEGER NOT NULL, sealed_bundle BLOB NOT NULL);
"""
_COLUMNS = ("id, role, name, prefix, expires_ns, uses, used, revoked_ns, created_by, "
            "created_ns")


@dataclass(frozen=True)
class Token:
    """What the vault knows of a token (never its secret)."""

    id: str
    role: str
    name: str
    prefix: str
    expires_ns: int
    uses: int
    used: int
    revoked_ns: int
    created_by: str
    created_ns: int

    def scope(self) -> str:
        return f"name {self.name!r}" if self.name else f"names starting {self.prefix!r}"


def auth_hash(secret: bytes) -> bytes:
    """What the vault stores of a token's secret (SHA-256)."""
    return hashlib.sha256(secret).digest()


def _iso(ns: int) -> str:
    return dt.datetime.fromtimestamp(ns / 1e9, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenStore:
    """Thread-safe: one connection behind a lock; each method one short transaction."""

    def __init__(self, path: Path, clock: Clock) -> None:
        self.path = Path(path)
        self._clock = clock
        self._lock = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False,
                                       isolation_level=None)
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(f"token store {self.path}: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(self, token_id: str, secret_hash: bytes, role: str, name: str, prefix: str,
               ttl_s: int, uses: int, created_by: str, sealed_bundle: bytes = b"") -> Token:
        """Record a new token; ``InvalidRequest`` names the field that is wrong."""
        if not _ID.match(token_id):
            raise InvalidRequest(f"token_id {token_id!r}: expected 16 lowercase hex digits")
        if len(secret_hash) != 32:
            raise InvalidRequest(f"auth_hash: {len(secret_hash)} bytes, expected 32 (SHA-256)")
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r}: expected one of {', '.join(ROLES)}")
        if bool(name) == bool(prefix):
            raise InvalidRequest("give exactly one of name and prefix")
        if not MIN_TTL_S <= ttl_s <= MAX_TTL_S:
            raise InvalidRequest(f"ttl {ttl_s}s: must be {MIN_TTL_S}s..{MAX_TTL_S // 86400}d")
        if not 1 <= uses <= MAX_USES:
            raise InvalidRequest(f"uses {uses}: must be 1..{MAX_USES}")
        if len(sealed_bundle) > MAX_BUNDLE_BYTES:
            raise InvalidRequest(f"sealed_bundle: {len(sealed_bundle)} bytes, at most "
                                 f"{MAX_BUNDLE_BYTES}")
        now = self._clock.now_ns()
        row = (token_id, secret_hash, role, name, prefix, now + ttl_s * 10**9, uses, 0, 0,
               created_by, now, sealed_bundle)
        with self._lock:
            try:
                self._db.execute("INSERT INTO tokens VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", row)
            except sqlite3.IntegrityError:
                raise InvalidRequest(f"token {token_id}: exists already") from None
            except sqlite3.Error as exc:
                raise StorageError(f"token store {self.path}: {exc}") from exc
        return self.get(token_id)

    def get(self, token_id: str) -> Token:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM tokens WHERE id = ?",
                                   (token_id,)).fetchone()
        if row is None:
            raise NotFound(f"token {token_id}: no such token")
        return Token(*row)

    def tokens(self) -> list[Token]:
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM tokens ORDER BY created_ns")
            return [Token(*r) for r in rows.fetchall()]

    def revoke(self, token_id: str) -> Token:
        """Revoke a token (idempotent: the first revocation time stays)."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE tokens SET revoked_ns = ? WHERE id = ? AND revoked_ns = 0",
                (self._clock.now_ns(), token_id))
            if cur.rowcount == 0 and self._db.execute(
                    "SELECT 1 FROM tokens WHERE id = ?", (token_id,)).fetchone() is None:
                raise NotFound(f"token {token_id}: no such token")
        return self.get(token_id)

    def redeem(self, token_id: str, secret: bytes, name: str, role: str) -> tuple[Token, bytes]:
        """Count one use of the token for ``name``/``role``; the token and its sealed bundle.

        ``Unauthenticated`` for an unknown, wrong, revoked, expired or used-up token;
        ``PermissionDenied`` for a name or role the token does not cover.
        """
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                row = self._db.execute(
                    f"SELECT {_COLUMNS}, auth_hash, sealed_bundle FROM tokens WHERE id = ?",
                    (token_id,)).fetchone()
                if row is None or not hmac.compare_digest(bytes(row[10]), auth_hash(secret)):
                    raise Unauthenticated(f"join token {token_id!r}: unknown token or wrong "
                                          "secret")
                token, bundle = Token(*row[:10]), bytes(row[11])
                now = self._clock.now_ns()
                if token.revoked_ns:
                    raise Unauthenticated(f"join token {token_id}: revoked at "
                                          f"{_iso(token.revoked_ns)}")
                if now >= token.expires_ns:
                    raise Unauthenticated(f"join token {token_id}: expired at "
                                          f"{_iso(token.expires_ns)}")
                if token.used >= token.uses:
                    raise Unauthenticated(f"join token {token_id}: already used {token.used} "
                                          f"of {token.uses} time(s)")
                if (token.name and name != token.name) or (
                        token.prefix and not name.startswith(token.prefix)):
                    raise PermissionDenied(f"join token {token_id} is for {token.scope()}, "
                                           f"not {name!r}")
                if role != token.role:
                    raise PermissionDenied(f"join token {token_id} is for role "
                                           f"{token.role!r}, the request asks for {role!r}")
                self._db.execute("UPDATE tokens SET used = used + 1 WHERE id = ?", (token_id,))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return self.get(token_id), bundle

    def refund(self, token_id: str) -> None:
        """Give back the use a failed join counted."""
        with self._lock:
            self._db.execute("UPDATE tokens SET used = used - 1 WHERE id = ? AND used > 0",
                             (token_id,))
