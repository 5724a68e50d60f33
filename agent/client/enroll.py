"""The agent's edge for joining a fleet and renewing certificates (``bulwark.v1.Enrollment``,
``bulwark.v1.Fleet``).

Pinning (``vault-agent enroll --ca-fingerprint``): the node has no CA file yet. It opens a TLS
connection to the enrollment listener without trusting anything, reads the chain the vault
presents (its certificate, then the CA's), keeps the certificate whose SHA-256 equals the
pinned fingerprint, checks that the vault's certificate is signed by it, and only then opens
the gRPC channel that trusts exactly that CA (host name checked against the certificate's
subject alternative names) and sends the token. A listener that presents another CA gets
nothing: the token never leaves the node.
"""

from __future__ import annotations

import hashlib
import socket
import ssl
from dataclasses import dataclass

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization

from bulwark.agent.client.channel import channel_options
from bulwark.agent.client.status import translate
from bulwark.agent.errors import AccessDenied, UsageError, VaultError
from bulwark.protos.bulwark.v1 import enroll_pb2, enroll_pb2_grpc

TIMEOUT_S = 30
_ENCODING_DER = 2  # _ssl.ENCODING_DER: the format argument of the chain's public_bytes()


def normalize_fingerprint(text: str) -> str:
    """``sha256:AB:CD…`` / ``abcd…`` -> 64 lowercase hex digits (UsageError otherwise)."""
    value = text.strip().lower().removeprefix("sha256:").replace(":", "")
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise UsageError(f"--ca-fingerprint: expected 64 hex digits (SHA-256), got {text!r}")
    return value


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of a PEM certificate's DER bytes, lowercase hex (what --ca-fingerprint pins)."""
    der = x509.load_pem_x509_certificate(cert_pem).public_bytes(serialization.Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def _split(address: str) -> tuple[str, int]:
    host, sep, port = address.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--vault: expected HOST:PORT, got {address!r}")
    return host.strip("[]"), int(port)


def _presented_chain(address: str) -> list[bytes]:
    """The DER certificates the server presents, unverified (verified by the caller)."""
    host, port = _split(address)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT_S) as raw, \
                ctx.wrap_socket(raw, server_hostname=host) as tls:
            # Python 3.13 names it on the socket; 3.11 and 3.12 have the same method on the
            # underlying object.
            getter = getattr(tls, "get_unverified_chain", None) or \
                tls._sslobj.get_unverified_chain
            return [c if isinstance(c, bytes) else c.public_bytes(_ENCODING_DER)
                    for c in getter()]
    except OSError as exc:
        raise VaultError(f"cannot reach the enrollment listener at {address}: {exc}") from None


def pinned_ca(address: str, pin: str) -> bytes:
    """The CA certificate (PEM) the listener at ``address`` presents, if its SHA-256 is
    ``pin`` and it signed the listener's certificate; AccessDenied otherwise."""
    pin = normalize_fingerprint(pin)
    chain = [x509.load_der_x509_certificate(d) for d in _presented_chain(address)]
    by_print = {hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).hexdigest(): c
                for c in chain}
    ca = by_print.get(pin)
    if ca is None or not chain:
        raise AccessDenied(
            f"the vault at {address} presents no CA with fingerprint {pin[:16]}…; refusing to "
            "send the token (wrong --ca-fingerprint, or not your vault)")
    try:
        chain[0].verify_directly_issued_by(ca)
    except (InvalidSignature, ValueError, TypeError) as exc:  # not signed by it
        raise AccessDenied(f"the vault at {address}: its certificate is not signed by the "
                           f"pinned CA: {exc}") from None
    return ca.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Joined:
    certificate_pem: bytes
    ca_pem: bytes
    not_after_s: int
    serial_hex: str
    sealed_bundle: bytes
    role: str
    vault_address: str
    vault_port: int


def join(address: str, ca_pem: bytes, request: enroll_pb2.JoinRequest) -> Joined:
    """Send ``request`` to the enrollment listener, trusting only ``ca_pem``."""
    creds = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    with grpc.secure_channel(address, creds, options=channel_options(1 << 20)) as channel, \
            translate("Join", address):
        reply = enroll_pb2_grpc.EnrollmentStub(channel).Join(request, timeout=TIMEOUT_S)
    c = reply.certificate
    return Joined(c.certificate_pem, c.ca_pem, c.not_after_s, c.serial_hex,
                  reply.sealed_bundle, reply.role, reply.vault_address, reply.vault_port)


class FleetClient:
    """Fleet calls over an mTLS channel (agent.client.channel)."""

    def __init__(self, channel: grpc.Channel, address: str) -> None:
        self._stub = enroll_pb2_grpc.FleetStub(channel)
        self._channel = channel
        self.address = address

    def close(self) -> None:
        self._channel.close()

    def create_token(self, request: enroll_pb2.CreateTokenRequest) -> enroll_pb2.TokenInfo:
        with translate("CreateToken", self.address):
            return self._stub.CreateToken(request, timeout=TIMEOUT_S)

    def revoke_token(self, token_id: str) -> enroll_pb2.TokenInfo:
        with translate("RevokeToken", self.address):
            return self._stub.RevokeToken(enroll_pb2.RevokeTokenRequest(token_id=token_id),
                                          timeout=TIMEOUT_S)

    def tokens(self) -> list[enroll_pb2.TokenInfo]:
        with translate("ListTokens", self.address):
            return list(self._stub.ListTokens(enroll_pb2.ListTokensRequest(),
                                              timeout=TIMEOUT_S).tokens)

    def renew(self, csr_der: bytes) -> enroll_pb2.CertificateReply:
        with translate("Renew", self.address):
            return self._stub.Renew(enroll_pb2.RenewRequest(csr_der=csr_der), timeout=TIMEOUT_S)
