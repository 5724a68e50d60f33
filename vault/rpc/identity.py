"""Who is calling: the identity and role carried by the client certificate (mTLS).

Every vault certificate issued by the built-in PKI (``vaultctl pki``) names its holder in
the subject's common name and its role in the subject's organizational unit::

    CN=<name>, OU=<role>, O=bulwark        role: node | operator | officer | replica | drill

:func:`caller_of` is the one place that reads it. Services call it for role checks
(officer-only holds and governance bypass) and for the actor named in audit entries;
``vault.rpc.authz`` calls it before any servicer runs.

Insecure mode (``[server] insecure = true`` in vault.toml, plaintext gRPC, logged as a
WARNING at every start) has no certificates: every caller is :data:`INSECURE_CALLER`,
``Caller("insecure", "operator")``. The authorization table still applies, so in insecure
mode nobody holds the officer, node, replica or drill roles. A TLS connection without a
usable certificate never gets that identity: it is refused as unauthenticated.
"""

from __future__ import annotations

import grpc
from cryptography import x509
from cryptography.x509.oid import NameOID

from bulwark.vault.caller import INSECURE_CALLER, ROLES, Caller
from bulwark.vault.errors import Unauthenticated


def peer_certificate(context: grpc.ServicerContext) -> x509.Certificate | None:
    """The client's leaf certificate, or None on a plaintext connection.

    Raises ``Unauthenticated`` for a TLS connection that carries no parsable certificate.
    """
    auth = context.auth_context() or {}
    security = b"".join(auth.get("transport_security_type", []))
    pems = auth.get("x509_pem_cert", [])
    if security in (b"", b"insecure") and not pems:
        return None  # a plaintext port: only bound when vault.toml says insecure = true
    if not pems:
        raise Unauthenticated("no client certificate")
    try:
        return x509.load_pem_x509_certificate(pems[0])
    except ValueError as exc:
        raise Unauthenticated(f"unreadable client certificate: {exc}") from None


def identity_of(cert: x509.Certificate) -> Caller:
    """Name and role from a certificate's subject; ``Unauthenticated`` if either is unusable."""
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(names) != 1 or not str(names[0].value).strip():
        raise Unauthenticated("client certificate has no single common name (CN)")
    if len(units) != 1 or units[0].value not in ROLES:
        found = [u.value for u in units]
        raise Unauthenticated(
            f"client certificate {names[0].value!r} names no known role in OU "
            f"(found {found}, known: {', '.join(ROLES)})"
        )
    return Caller(str(names[0].value), str(units[0].value))


def caller_of(context: grpc.ServicerContext) -> Caller:
    """The caller of the current RPC (``INSECURE_CALLER`` on a plaintext server).

    Raises ``Unauthenticated`` when a TLS peer's certificate names no identity or role.
    """
    cert = peer_certificate(context)
    return INSECURE_CALLER if cert is None else identity_of(cert)
