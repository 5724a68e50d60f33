"""The gRPC edge for ``bulwark.v1.Enrollment`` (joins) and ``bulwark.v1.Fleet`` (tokens,
renewals). What a token allows is in ``vault.keys.tokens``; what a certificate says is in
``vault.keys.signer``; who may call Fleet is in ``vault.rpc.authz``.

``Enrollment.Join`` runs on the enrollment listener, where callers have no certificate: the
token is the credential, and every join, allowed or refused, is audited with the token id as
actor and the peer address. A refusal after a use was counted (CSR or signing key refused)
gives the use back. ``Fleet.Renew`` signs a new certificate for the caller's own identity
only; it is audited with both serials so a renewed certificate can be revoked like any
other (``[tls] revoked`` lists serials).
"""

from __future__ import annotations

import secrets

from cryptography import x509

from bulwark.protos.bulwark.v1 import enroll_pb2, enroll_pb2_grpc
from bulwark.vault.errors import InvalidRequest, NotConfigured, PermissionDenied, VaultError
from bulwark.vault.keys.registry import Registry
from bulwark.vault.keys.signer import CertSigner, Signed, subject_of
from bulwark.vault.keys.tokens import Token, TokenStore
from bulwark.vault.rpc.identity import caller_of, peer_certificate
from bulwark.vault.rpc.status import edge

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


def check_name(name: str) -> str:
    """Identity names as the site PKI makes them: 1-64 of letters, digits, ``-_.``."""
    if not 0 < len(name) <= 64 or not set(name) <= _NAME_CHARS or name.startswith("."):
        raise InvalidRequest(f"name {name!r}: use 1-64 letters, digits, '-', '_' or '.'")
    return name


def _reply(signed: Signed, ca_pem: bytes) -> enroll_pb2.CertificateReply:
    return enroll_pb2.CertificateReply(certificate_pem=signed.pem, ca_pem=ca_pem,
                                       not_after_s=signed.not_after_s,
                                       serial_hex=f"{signed.serial:x}")


def _info(t: Token) -> enroll_pb2.TokenInfo:
    return enroll_pb2.TokenInfo(
        token_id=t.id, role=t.role, name=t.name, prefix=t.prefix,
        expires_s=t.expires_ns // 10**9, uses=t.uses, used=t.used,
        revoked=bool(t.revoked_ns), created_by=t.created_by, created_s=t.created_ns // 10**9)


class EnrollmentService(enroll_pb2_grpc.EnrollmentServicer):
    def __init__(self, tokens: TokenStore, signer: CertSigner, registry: Registry, audit,
                 advertise: str, port: int) -> None:
        self.tokens, self.signer, self.registry, self.audit = tokens, signer, registry, audit
        self.advertise, self.port = advertise, port

    @edge
    def Join(self, request, context):
        actor = f"token:{request.token_id[:16]}"
        where = f"{request.name[:64]} from {context.peer() or '?'}"
        try:
            check_name(request.name)
            try:
                asked_role = subject_of(_csr_subject(request.csr_der))[1]
            except ValueError as exc:
                raise InvalidRequest(f"csr_der: not a PKCS#10 request: {exc}") from None
            token, bundle = self.tokens.redeem(request.token_id, request.token_secret,
                                               request.name, asked_role)
        except VaultError as exc:
            self.audit.append(actor, "none", "enroll.join", where, "refused", str(exc))
            raise
        try:
            signed = self.signer.sign(request.csr_der, request.name, token.role)
            if token.role == "node":
                self.registry.enroll(request.name, request.signing_public_key)
        except VaultError as exc:
            self.tokens.refund(token.id)
            self.audit.append(actor, token.role, "enroll.join", where, "refused", str(exc))
            raise
        self.audit.append(actor, token.role, "enroll.join", where, "allowed",
                          f"{token.role} {request.name}: certificate serial {signed.serial:x}, "
                          f"use {token.used} of {token.uses}, created by {token.created_by}")
        return enroll_pb2.JoinResponse(
            certificate=_reply(signed, self.signer.ca_pem), sealed_bundle=bundle,
            role=token.role, vault_address=self.advertise, vault_port=self.port)


def _csr_subject(csr_der: bytes) -> x509.Name:
    """The subject a CSR asks for (the signer re-parses and checks the whole request)."""
    return x509.load_der_x509_csr(csr_der).subject


class FleetService(enroll_pb2_grpc.FleetServicer):
    def __init__(self, tokens: TokenStore | None, signer: CertSigner | None, audit) -> None:
        self.tokens, self.signer, self.audit = tokens, signer, audit

    def _need(self) -> tuple[TokenStore, CertSigner]:
        if self.tokens is None or self.signer is None:
            raise NotConfigured("this vault signs no certificates: its vault.toml has no "
                                 "[enroll] table (docs/operations.md \"Enrollment\")")
        return self.tokens, self.signer

    def _audit(self, context, action: str, target: str, outcome: str, detail: str) -> None:
        caller = caller_of(context)
        self.audit.append(caller.name, caller.role, action, target, outcome, detail)

    @edge
    def CreateToken(self, request, context):
        tokens, _ = self._need()
        token_id = request.token_id or secrets.token_hex(8)
        try:
            if request.name:
                check_name(request.name)
            token = tokens.create(token_id, request.auth_hash, request.role, request.name,
                                  request.prefix, request.ttl_s, request.uses,
                                  caller_of(context).name, request.sealed_bundle)
        except VaultError as exc:
            self._audit(context, "enroll.token.create", f"token:{token_id}", "refused", str(exc))
            raise
        self._audit(context, "enroll.token.create", f"token:{token.id}", "allowed",
                    f"role {token.role}, {token.scope()}, {token.uses} use(s), "
                    f"expires {token.expires_ns // 10**9}")
        return _info(token)

    @edge
    def RevokeToken(self, request, context):
        tokens, _ = self._need()
        token = tokens.revoke(request.token_id)
        self._audit(context, "enroll.token.revoke", f"token:{token.id}", "allowed",
                    f"after {token.used} of {token.uses} use(s)")
        return _info(token)

    @edge
    def ListTokens(self, request, context):
        tokens, _ = self._need()
        return enroll_pb2.ListTokensResponse(tokens=[_info(t) for t in tokens.tokens()])

    @edge
    def Renew(self, request, context):
        _, signer = self._need()
        caller = caller_of(context)
        cert = peer_certificate(context)
        if cert is None:
            raise PermissionDenied("renewal needs a certificate to renew (mTLS)")
        try:
            signed = signer.sign(request.csr_der, caller.name, caller.role)
        except VaultError as exc:
            self._audit(context, "cert.renew", caller.name, "refused", str(exc))
            raise
        self._audit(context, "cert.renew", caller.name, "allowed",
                    f"serial {cert.serial_number:x} -> {signed.serial:x}, "
                    f"valid until {signed.not_after_s}")
        return _reply(signed, signer.ca_pem)
