"""The agent's exception tree, mapped once to exit codes by the CLI.

::

    AgentError                      exit 1 unless stated
     ├── ConfigError                exit 2  bad or missing configuration (names file, key, reason)
 ├── UsageError                 exit 2  a bad argument (pattern, duration, path) named as given
     ├── KeyMaterialError           exit 2  missing, unreadable or wrong key material
     ├── VaultError                 exit 1  the vault refused or could not be reached
     │    ├── SnapshotNotFound      exit 1  no snapshot matches a reference
     │    ├── AccessDenied          exit 2  the vault refused this identity or role
     │    └── RetentionRefused      exit 1  a WORM rule refused (the message names it)
     ├── IntegrityError             exit 1  data failed authentication or a hash check
     │    ├── BlobError             exit 1  a chunk blob is malformed, truncated or forged
     │    └── ManifestError         exit 1  a manifest or sealed root is malformed
     ├── UnsafePathError            exit 1  a manifest path would escape the restore target
     └── CacheFull                  exit 1  the agent's cache folder has no space left (ENOSPC)

Integrity errors never subclass "not found", so a broad ``except SnapshotNotFound``
cannot swallow evidence of tampering.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of every error the agent raises on purpose."""

    exit_code = 1


class ConfigError(AgentError):
    """Configuration is missing or invalid; the message names the file, key and reason."""

    exit_code = 2


class UsageError(AgentError):
    """A command-line argument is invalid; the message names the flag and the value."""

    exit_code = 2


class KeyMaterialError(AgentError):
    """Key material is missing, unreadable, or does not open the data it should."""

    exit_code = 2


class VaultError(AgentError):
    """The vault refused a request or could not be reached."""


class AccessDenied(VaultError):
    """The vault refused the caller: PERMISSION_DENIED or UNAUTHENTICATED."""

    exit_code = 2


class RetentionRefused(VaultError):
    """A WORM retention rule refused: locked, held, or a role that may not (the vault's
    message names the rule)."""


class SnapshotNotFound(VaultError):
    """No snapshot matches the reference (full id, unique prefix or ``latest``)."""


class IntegrityError(AgentError):
    """Data failed authentication or a content-hash check."""


class BlobError(IntegrityError):
    """A chunk blob is malformed, truncated, oversized or fails AEAD authentication."""


class ManifestError(IntegrityError):
    """A manifest, sealed root or snapshot header is malformed or fails verification."""


class UnsafePathError(AgentError):
    """A manifest path is absolute, contains ``..`` or would leave the restore target."""


class CacheFull(AgentError):
    """The file system of the agent's cache folder is full; the message names the folder."""
