"""The vault's exception tree, mapped once to gRPC status codes by ``vault.rpc.status``.

::

    VaultError                      base of every error the vault raises on purpose
     ├── ConfigError                vault.toml is missing or invalid (names file, key, reason)
     ├── NotFound                   NOT_FOUND            no such chunk or snapshot
     ├── InvalidRequest             INVALID_ARGUMENT     malformed message: wrong id length,
     │                                                   too many ids, empty stream, no header,
     │                                                   ambiguous snapshot prefix, ...
     ├── IntegrityError             DATA_LOSS            digest mismatch on put; stored blob
     │                                                   fails its hash on read
     ├── MissingChunks              FAILED_PRECONDITION  a commit references chunks the vault
     │                                                   does not hold
     ├── StorageError               RESOURCE_EXHAUSTED   disk full (ENOSPC, EDQUOT)
     │                              INTERNAL             any other I/O failure
     ├── RetentionRefused           FAILED_PRECONDITION  a WORM rule refused (vault.worm.retention);
     │    │                                              the message names the rule
     │    ├── RetentionLocked                            retain-until not reached, or a
     │    │                                              shortening compliance forbids
     │    ├── HeldByLegalHold                            a legal hold blocks the delete
     │    ├── RoleRefused                                the rule names a role the caller
     │    │                                              lacks (holds, governance bypass)
     │    └── BlobLocked                                 the store refused to delete a blob
     │                                                   still locked (defence in depth)
     ├── LimitExceeded              RESOURCE_EXHAUSTED   a caller over a limit (ingest.limits)
     │                                                   (calls at once, commits per hour)
     ├── NotConfigured              FAILED_PRECONDITION  this vault is not set up for the call
     │                                                   (Fleet without [enroll] in vault.toml)
     ├── Unauthenticated            UNAUTHENTICATED      no usable client identity (rpc.identity)
     └── PermissionDenied           PERMISSION_DENIED    the caller's role or identity may not
                                                         call this (vault.rpc.authz, node
                                                         isolation)

Integrity errors never subclass ``NotFound`` (nor the other way round), so a broad
``except NotFound`` cannot swallow evidence of tampering. ``MissingChunks`` is not an
integrity error either: the vault's data is fine, the client's commit is premature.
Retention refusals are neither: a broad ``except NotFound`` cannot turn "locked" into "gone".
"""

from __future__ import annotations

import errno as _errno


def short_id(chunk_id: bytes | str, n: int = 8) -> str:
    """Hex prefix of an id for messages: ``3fa2b1c0…``."""
    text = chunk_id.hex() if isinstance(chunk_id, bytes | bytearray) else chunk_id
    return text if len(text) <= n else text[:n] + "…"


class VaultError(Exception):
    """Base of every error the vault raises on purpose."""


class ConfigError(VaultError):
    """Configuration is missing or invalid; the message names the file, key and reason."""


class NotFound(VaultError):
    """No chunk or snapshot with this id (or reference) is held by the vault."""


class InvalidRequest(VaultError):
    """A request is malformed: the message says which field and why."""


class IntegrityError(VaultError):
    """Bytes do not match their BLAKE3 digest, on the way in or at rest."""


class MissingChunks(VaultError):
    """A snapshot commit references chunk ids the vault does not hold.

    ``count`` is the number of missing ids, ``first`` the first few of them (sorted).
    """

    SHOWN = 5

    def __init__(self, missing: list[bytes]) -> None:
        self.count = len(missing)
        self.first = sorted(missing)[: self.SHOWN]
        shown = ", ".join(c.hex() for c in self.first)
        more = f" and {self.count - len(self.first)} more" if self.count > len(self.first) else ""
        super().__init__(f"commit references {self.count} chunk(s) the vault lacks: {shown}{more}")


class StorageError(VaultError):
    """The store or catalog failed to read or write (I/O error, disk full).

    ``errno`` is the OS error number when known; ``disk_full`` tells ENOSPC/EDQUOT apart.
    """

    def __init__(self, message: str, errno: int | None = None) -> None:
        super().__init__(message)
        self.errno = errno

    @property
    def disk_full(self) -> bool:
        return self.errno in (_errno.ENOSPC, _errno.EDQUOT)

    @classmethod
    def from_os(cls, what: str, exc: OSError) -> StorageError:
        """Wrap an ``OSError`` with the operation that failed: ``"write chunk 3fa2…: ..."``."""
        return cls(f"{what}: {exc.strerror or exc}", exc.errno)


class LimitExceeded(VaultError):
    """A caller is over one of the vault's limits (ingest.limits); the message names the limit,
    its value and the vault.toml key that sets it. Retry later; nothing was done."""


class NotConfigured(VaultError):
    """The request is well formed but this vault is not set up to serve it (Fleet calls on a
    vault without ``[enroll]``); the message names the missing vault.toml table."""


class Unauthenticated(VaultError):
    """The caller presented no usable identity (no certificate, no role, revoked)."""


class PermissionDenied(VaultError):
    """The caller is known but its role or identity may not do this."""


class RetentionRefused(VaultError):
    """A WORM retention rule refused the request; the message names the rule."""


class RetentionLocked(RetentionRefused):
    """The snapshot is locked: its retain-until has not passed, or the change would shorten
    a compliance-mode lock (which nobody may do)."""


class HeldByLegalHold(RetentionRefused):
    """A legal hold is set on the snapshot: it cannot be deleted whatever its retain-until."""


class BlobLocked(RetentionRefused):
    """The store refused to delete a blob its lock oracle reports as locked."""


class RoleRefused(RetentionRefused):
    """The caller's role may not take this retention action (holds and governance bypass
    belong to the security officer)."""
