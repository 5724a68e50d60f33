"""The vault's one mapping from domain errors to gRPC status codes, and the decorator that
applies it to every servicer method.

    NotFound        -> NOT_FOUND            InvalidRequest -> INVALID_ARGUMENT
    IntegrityError  -> DATA_LOSS            MissingChunks  -> FAILED_PRECONDITION
    StorageError    -> RESOURCE_EXHAUSTED (disk full), else INTERNAL
    LimitExceeded   -> RESOURCE_EXHAUSTED   (a caller over a limit of vault.ingest.limits)
    NotConfigured   -> FAILED_PRECONDITION  (the vault is not set up for the call)
    PermissionDenied -> PERMISSION_DENIED   Unauthenticated -> UNAUTHENTICATED
    RetentionRefused -> FAILED_PRECONDITION (RoleRefused too: a WORM rule naming a role)

Anything else is INTERNAL with the exception's type only (the traceback goes to the log).

Every refusal is audited (issue 15 item 4): when the servicer has an ``audit`` log, ``edge``
appends each domain error it maps (outcome ``refused``; ``error`` for storage and integrity
failures) with the caller and the method, unless the servicer already audited that
exception itself (it sets ``exc.audited = True``). An audit log that cannot be written does
not turn a refusal into a success: the refusal stands and the log says so.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable

import grpc

from bulwark.vault.errors import (
    IntegrityError,
    InvalidRequest,
    LimitExceeded,
    MissingChunks,
    NotConfigured,
    NotFound,
    PermissionDenied,
    RetentionRefused,
    StorageError,
    Unauthenticated,
    VaultError,
)
from bulwark.vault.rpc.identity import caller_of

log = logging.getLogger(__name__)

_STATUS: list[tuple[type[VaultError], grpc.StatusCode]] = [
    (NotFound, grpc.StatusCode.NOT_FOUND),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (IntegrityError, grpc.StatusCode.DATA_LOSS),
    (MissingChunks, grpc.StatusCode.FAILED_PRECONDITION),
    (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
    (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
    (RetentionRefused, grpc.StatusCode.FAILED_PRECONDITION),
    (LimitExceeded, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (NotConfigured, grpc.StatusCode.FAILED_PRECONDITION),
]


def status_for(exc: VaultError) -> grpc.StatusCode:
    """The gRPC status code for a vault error (the one mapping in the vault)."""
    if isinstance(exc, StorageError):
        return grpc.StatusCode.RESOURCE_EXHAUSTED if exc.disk_full else grpc.StatusCode.INTERNAL
    for cls, code in _STATUS:
        if isinstance(exc, cls):
            return code
    return grpc.StatusCode.INTERNAL


def audit_refusal(audit, context: grpc.ServicerContext, method: str, exc: Exception) -> None:
    """Append ``exc`` to ``audit`` as the refusal of ``method`` for the context's caller."""
    if audit is None or not isinstance(exc, VaultError) or getattr(exc, "audited", False):
        return
    outcome = "error" if isinstance(exc, StorageError | IntegrityError) else "refused"
    try:
        caller = caller_of(context)
        audit.append(caller.name, caller.role, method, context.peer() or "", outcome, str(exc))
        exc.audited = True  # type: ignore[attr-defined]
    except Exception:  # the refusal stands; the log says it is not audited
        log.exception("cannot audit the refusal of %s", method)


def _abort(context: grpc.ServicerContext, method: str, exc: Exception, audit=None) -> None:
    audit_refusal(audit, context, method, exc)
    if not context.is_active():
        log.info("%s: cancelled by the client", method)
        context.abort(grpc.StatusCode.CANCELLED, f"{method}: cancelled")
    if isinstance(exc, VaultError):
        code = status_for(exc)
        log.log(logging.ERROR if code == grpc.StatusCode.INTERNAL else logging.INFO,
                "%s: %s: %s", method, code.name, exc)
        context.abort(code, str(exc))
    log.exception("%s: unexpected error", method)
    context.abort(grpc.StatusCode.INTERNAL, f"{method}: internal error: {type(exc).__name__}")


def edge(method: Callable) -> Callable:
    """Turn exceptions raised by an RPC method into gRPC statuses (generators included)."""
    name = method.__name__
    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def stream(self, request, context):
            try:
                yield from method(self, request, context)
            except Exception as exc:
                _abort(context, name, exc, getattr(self, "audit", None))

        return stream

    @functools.wraps(method)
    def unary(self, request, context):
        try:
            return method(self, request, context)
        except Exception as exc:
            _abort(context, name, exc, getattr(self, "audit", None))

    return unary
