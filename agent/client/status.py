"""The agent's one mapping from gRPC status codes to its exception tree (README, exit codes).

    UNAVAILABLE           VaultError         exit 1  cannot reach the vault, or lost it during the
                                                     call (names the call and the address)
    DATA_LOSS             IntegrityError     exit 1  a stored blob failed its check
    NOT_FOUND             SnapshotNotFound   exit 1  (or the caller's own not-found error)
    PERMISSION_DENIED     AccessDenied       exit 2  this identity or role may not do this
    UNAUTHENTICATED       AccessDenied       exit 2  no usable identity (revoked, expired)
    FAILED_PRECONDITION   RetentionRefused   exit 1  a WORM rule or a missing chunk refused
    INVALID_ARGUMENT      UsageError         exit 2  on a call that carries what the user typed:
                                                     a snapshot reference that is malformed or
                                                     a prefix several snapshots share
    anything else         VaultError         exit 1  names the call and the status

Both clients (``client.vault`` and ``client.admin``) translate through :func:`translate`,
so one status means one thing whichever command met it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import grpc

from bulwark.agent.errors import (
    AccessDenied,
    IntegrityError,
    RetentionRefused,
    SnapshotNotFound,
    UsageError,
    VaultError,
)

#: ``invalid=`` for calls that carry what the user typed (a snapshot reference, a date).
USER_INPUT_ERROR = UsageError


def error_for(
    exc: grpc.RpcError, what: str, address: str,
    not_found: Callable[[str], Exception] | None = None,
    invalid: Callable[[str], Exception] | None = None,
) -> Exception:
    """The agent error for a failed call ``what`` to the vault at ``address``. ``invalid``
    makes INVALID_ARGUMENT's error, for calls whose argument the user typed; without it that
    status is a VaultError (the agent itself sent something the vault refuses)."""
    code = exc.code()
    detail = exc.details() or code.name
    if code == grpc.StatusCode.UNAVAILABLE:
        if _lost_mid_call(detail):
            return VaultError(f"{what}: lost the connection to the vault at {address} during "
                              f"the call (nothing of it is committed): {detail}")
        return VaultError(
            f"{what}: cannot reach the vault at {address}: {detail}{_clock_hint(detail)}")
    if code == grpc.StatusCode.DATA_LOSS:
        return IntegrityError(f"{what}: {detail}")
    if code == grpc.StatusCode.NOT_FOUND:
        return (not_found or SnapshotNotFound)(detail)
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return AccessDenied(f"{what}: the vault refused this identity: {detail}")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return RetentionRefused(f"refused: {detail}")
    if code == grpc.StatusCode.INVALID_ARGUMENT and invalid is not None:
        return invalid(detail)
    return VaultError(f"{what}: vault answered {code.name}: {detail}")


#: What gRPC says of a connection that broke while a call was open (a link cut or reset, a
#: vault that stopped answering its keepalive pings); a failure to connect starts with
#: "failed to connect" and may be a handshake refused over a clock (``_clock_hint``).
_MID_CALL = ("Stream removed", "Connection reset", "keepalive", "Broken pipe", "Socket closed",
             "GOAWAY")


def _lost_mid_call(detail: str) -> bool:
    return not detail.startswith("failed to connect") and any(m in detail for m in _MID_CALL)


def _clock_hint(detail: str) -> str:
    """What a failed TLS handshake may mean about clocks (issue 15: a clock set backwards
    makes every certificate "not yet valid", and gRPC says only "handshake failed")."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if "not yet valid" in detail:
        return (f". This machine's clock says {now}, before the vault certificate's start: "
                "set the clock right (NTP) and retry")
    if "Socket closed" in detail or "handshake" in detail.lower():
        return (". If the vault's clock is set backwards it refuses every certificate as not "
                "yet valid (vaultd logs it at start); if this machine's clock is wrong "
                f"(it says {now}), set it right")
    return ""


@contextmanager
def translate(
    what: str, address: str, not_found: Callable[[str], Exception] | None = None,
    invalid: Callable[[str], Exception] | None = None,
) -> Iterator[None]:
    """Raise the agent error for any ``grpc.RpcError`` inside the block."""
    try:
        yield
    except grpc.RpcError as exc:
        raise error_for(exc, what, address, not_found, invalid) from None
