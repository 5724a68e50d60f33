"""Authorization: the one table of which role may call which RPC, and its interceptor.

:data:`PERMISSIONS` maps every full method name the vault serves to the roles allowed to
call it. :class:`AuthzInterceptor` applies it before any servicer runs:

* a method missing from the table is refused for everyone (deny by default);
* no usable identity (TLS peer without a certificate naming a known role, a revoked
  certificate, or a node retired with ``KeyAdmin.RetireNode``) -> ``UNAUTHENTICATED``;
* a known caller whose role is not listed -> ``PERMISSION_DENIED``;
* every refusal is appended to the audit log with the caller's identity.

Finer rules that depend on the request (a node sees only its own snapshots; only the
officer may bypass governance) live in the servicers, which read :func:`vault.rpc.identity.
caller_of`. The README's role table is generated from this module (:func:`markdown_table`)
and a test keeps the two equal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

import grpc

from bulwark.vault.errors import PermissionDenied, Unauthenticated
from bulwark.vault.rpc.identity import ROLES, Caller, caller_of, peer_certificate

log = logging.getLogger(__name__)

ALL = frozenset(ROLES)
NODE, OPERATOR, OFFICER, REPLICA, DRILL = ROLES


def _roles(*names: str) -> frozenset[str]:
    return frozenset(names)


#: Full method name -> roles allowed to call it. Deny by default: absent means nobody.
PERMISSIONS: dict[str, frozenset[str]] = {
    # Data path. Writing: nodes and operators; reading: own snapshots for nodes
    # (vault.rpc.vault_service enforces it), everything for operator, drill and replica.
    "/bulwark.v1.Vault/FindMissing": _roles(NODE, OPERATOR),
    "/bulwark.v1.Vault/PutChunks": _roles(NODE, OPERATOR),
    "/bulwark.v1.Vault/CommitSnapshot": _roles(NODE, OPERATOR),
    "/bulwark.v1.Vault/ListSnapshots": ALL,
    "/bulwark.v1.Vault/GetSnapshot": ALL,
    "/bulwark.v1.Vault/GetChunks": _roles(NODE, OPERATOR, REPLICA, DRILL),
    "/bulwark.v1.Snapshots/QuerySnapshots": ALL,
    # Forget deletes only what retention already allows (never a bypass): operator, officer.
    "/bulwark.v1.Forget/Forget": _roles(OPERATOR, OFFICER),
    # Storage statistics: the vault's totals tell how much every node stores, so not nodes.
    "/bulwark.v1.Stats/GetStats": _roles(OPERATOR, OFFICER, DRILL),
    "/bulwark.v1.Quotas/GetQuotas": _roles(OPERATOR, OFFICER, DRILL),
    # Catalog and store agree (vault.catalog.check): reads every blob, so the vault's own roles.
    "/bulwark.v1.Check/CheckCatalog": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Stats/GetChunkSizes": _roles(OPERATOR, OFFICER, DRILL),
    # Added tags (signed ones never change): operators and officers, audited.
    "/bulwark.v1.Tags/SetTags": _roles(OPERATOR, OFFICER),
    # Air-gap replication (docs/airgap.md): the feed is the replica role's alone; an air-gap
    # vault's window status and manual window belong to its own operators.
    "/bulwark.v1.Replication/Feed": _roles(REPLICA),
    "/bulwark.v1.Airgap/GetAirgapStatus": _roles(OPERATOR, OFFICER, DRILL),
    "/bulwark.v1.Airgap/SyncNow": _roles(OPERATOR, OFFICER),
    # WORM retention. Holds: officer only; governance bypass: officer only (checked in
    # the Retention service, which reads the caller's role).
    "/bulwark.v1.Retention/GetRetention": _roles(OPERATOR, OFFICER, DRILL),
    "/bulwark.v1.Retention/SetRetention": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Retention/SetLegalHold": _roles(OFFICER),
    "/bulwark.v1.Signals/SetMark": _roles(OFFICER),
    "/bulwark.v1.Retention/DeleteSnapshot": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Retention/Prune": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Retention/Scrub": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Retention/GetClock": ALL,
    "/bulwark.v1.Audit/ReadAudit": _roles(OPERATOR, OFFICER),
    # Keys: enrollment by operator/officer; public keys readable by all; escrow blobs
    # (passphrase-wrapped, write-once) by operator/officer only.
    "/bulwark.v1.Keys/EnrollNode": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Keys/ListNodes": ALL,
    "/bulwark.v1.Keys/PutEscrow": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Keys/GetEscrow": _roles(OPERATOR, OFFICER),
    # Key inventory (names, fingerprints, dates; never escrow blobs) and retiring a node.
    "/bulwark.v1.KeyAdmin/ListKeys": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.KeyAdmin/RetireNode": _roles(OPERATOR, OFFICER),
    # Restore key rotation: announcements are public keys signed by the tenant (nodes verify
    # them), read by everyone; publishing one is for the roles that hold the tenant key.
    "/bulwark.v1.RestoreKeys/PublishRestoreKey": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.RestoreKeys/ListRestoreKeys": ALL,
    "/bulwark.v1.Drills/RecordDrill": _roles(DRILL, OPERATOR),
    "/bulwark.v1.Drills/ListDrills": _roles(OPERATOR, OFFICER, DRILL),
    # Fleet: join tokens by operator/officer; every identity renews its own certificate
    # (the CSR must name the caller: vault.keys.signer). Join is served only on the enrollment
    # listener, where the token is the credential (vault.rpc.enrollment): nobody here.
    "/bulwark.v1.Fleet/CreateToken": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Fleet/RevokeToken": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Fleet/ListTokens": _roles(OPERATOR, OFFICER),
    "/bulwark.v1.Fleet/Renew": ALL,
    "/bulwark.v1.Enrollment/Join": _roles(),
    # Health and reflection: every authenticated caller (mTLS means there is no
    # unauthenticated caller on a secure vault; probes use any role's certificate).
    "/grpc.health.v1.Health/Check": ALL,
    "/grpc.health.v1.Health/List": ALL,
    "/grpc.health.v1.Health/Watch": ALL,
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": ALL,
}


def allowed(method: str, role: str) -> bool:
    """True if ``role`` may call ``method`` according to :data:`PERMISSIONS`."""
    return role in PERMISSIONS.get(method, frozenset())


class AuditSink(Protocol):
    def append(self, actor: str, role: str, action: str, target: str, outcome: str,
               detail: str = "") -> object: ...


class AuthzInterceptor(grpc.ServerInterceptor):
    """Checks identity, revocation and the table before the servicer sees the call.

    ``is_revoked(serial)`` is asked on every call, so a revocation takes effect on the
    caller's next call. ``audit`` (may be None in unit tests) receives every refusal.
    """

    def __init__(self, is_revoked: Callable[[int], bool] = lambda serial: False,
                 audit: AuditSink | None = None,
                 is_retired: Callable[[str], bool] = lambda node: False) -> None:
        self._is_revoked = is_revoked
        self._audit = audit
        self._is_retired = is_retired  # node names retired in the registry (vault.keys.registry)

    def intercept_service(self, continuation, handler_call_details):
        method = handler_call_details.method
        handler = continuation(handler_call_details)
        if handler is None:
            # Not served (yet): still authorize first, so a denied role learns nothing.
            return grpc.unary_unary_rpc_method_handler(self._unimplemented(method))
        for kind in ("unary_unary", "unary_stream", "stream_unary", "stream_stream"):
            behavior = getattr(handler, kind)
            if behavior is not None:
                return getattr(grpc, f"{kind}_rpc_method_handler")(
                    self._guard(method, behavior),
                    request_deserializer=handler.request_deserializer,
                    response_serializer=handler.response_serializer,
                )
        return handler  # pragma: no cover - grpc handlers always have one behavior

    def _guard(self, method: str, behavior):
        def guarded(request, context):
            self.authorize(method, context)
            return behavior(request, context)

        return guarded

    def _unimplemented(self, method: str):
        def refuse(request, context):
            self.authorize(method, context)
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{method}: not served by this vault")

        return refuse

    def authorize(self, method: str, context: grpc.ServicerContext) -> Caller:
        """Return the caller if allowed; otherwise abort the RPC (and audit the refusal)."""
        try:
            caller = caller_of(context)
            cert = peer_certificate(context)
            if cert is not None and self._is_revoked(cert.serial_number):
                raise Unauthenticated(
                    f"certificate {caller.name!r} (serial {cert.serial_number:x}) is revoked"
                )
            if caller.role == NODE and self._is_retired(caller.name):
                raise Unauthenticated(
                    f"node {caller.name!r} is retired: its certificates are refused (its "
                    "enrolled key is kept to verify its old snapshots)")
        except Unauthenticated as exc:
            self._refuse(context, Caller("unknown", "none"), method,
                         grpc.StatusCode.UNAUTHENTICATED, str(exc))
            raise  # unreachable: abort raises
        if not allowed(method, caller.role):
            reason = PermissionDenied(
                f"{method}: role {caller.role!r} may not call this "
                f"(allowed: {', '.join(sorted(PERMISSIONS.get(method, ()))) or 'nobody'})"
            )
            self._refuse(context, caller, method, grpc.StatusCode.PERMISSION_DENIED,
                         str(reason))
        return caller

    def _refuse(self, context, caller: Caller, method: str, code: grpc.StatusCode,
                detail: str) -> None:
        log.warning("refused %s for %s: %s", method, caller, detail)
        if self._audit is not None:
            try:
                self._audit.append(caller.name, caller.role, method, context.peer() or "",
                                   "refused", detail)
            except Exception:  # the refusal stands even if the audit log cannot be written
                log.exception("cannot audit the refusal of %s", method)
        context.abort(code, detail)


def markdown_table() -> str:
    """The role x RPC table as Markdown (what the README shows; a test compares them)."""
    head = "| RPC | " + " | ".join(ROLES) + " |"
    rule = "|---|" + "---|" * len(ROLES)
    rows = [
        "| `" + method.lstrip("/") + "` | "
        + " | ".join("yes" if role in roles else "—" for role in ROLES) + " |"
        for method, roles in PERMISSIONS.items()
    ]
    return "\n".join([head, rule, *rows])
