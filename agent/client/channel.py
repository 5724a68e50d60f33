"""The one place a client opens a gRPC channel to the vault.

``open_channel`` makes an mTLS channel from the configuration's ``[tls]`` files (the CA
that signed the vault's certificate, this client's certificate and key), or a plaintext
channel only when the configuration says ``[vault] insecure = true``, which it logs as a
WARNING. Every client module (snapshots, restore, retention, drills, keys) gets its
channel here, so transport security is decided once. Before the channel exists the files are
read and checked: a key that is not the certificate's, or a certificate that has expired,
is a ConfigError (exit 2) naming the files, not a failed handshake later.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

from bulwark.agent.errors import ConfigError
from bulwark.protos.contract import CLIENT_KEEPALIVE_OPTIONS, DEFAULT_MAX_MESSAGE_BYTES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    """Message sizes, and keepalive (``protos.contract.CLIENT_KEEPALIVE_OPTIONS``): a call
    whose vault stops answering (stopped, or the link cut without a reset) ends UNAVAILABLE
    within about ``CLIENT_KEEPALIVE_MS + CLIENT_KEEPALIVE_TIMEOUT_MS`` instead of waiting
    forever (tests/e2e/test_network_faults.py measured 30 s)."""
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        *CLIENT_KEEPALIVE_OPTIONS,
    ]


def open_channel(address: str, tls: TlsFiles | None,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
                 insecure: bool = False) -> grpc.Channel:
    """A channel to ``address``: mTLS with ``tls``, plaintext only if ``insecure``."""
    options = channel_options(max_message_bytes)
    if tls is None:
        if not insecure:
            raise ConfigError(
                f"no [tls] settings for {address}: give ca/cert/key, or set "
                "[vault] insecure = true (plaintext, test benches only)"
            )
        log.warning("INSECURE: plaintext gRPC to %s (no TLS, no client identity)", address)
        return grpc.insecure_channel(address, options=options)
    try:
        ca, cert, key = tls.ca.read_bytes(), tls.cert.read_bytes(), tls.key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{exc.filename}: [tls]: cannot read: {exc.strerror}") from None
    check_not_expired(tls.cert, check_pair(tls, cert, key), time.time())
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert)
    return grpc.secure_channel(address, credentials, options=options)


def check_pair(tls: TlsFiles, cert_pem: bytes, key_pem: bytes) -> x509.Certificate:
    """The certificate ``cert_pem`` holds; ConfigError, naming both files, unless ``key_pem``
    is an unencrypted PEM private key whose public half is the one the certificate names.
    Checked here because gRPC would only fail the handshake later, as an unreachable vault."""
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
    except ValueError:
        raise ConfigError(f"{tls.cert}: [tls] cert: not a PEM certificate") from None
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        raise ConfigError(f"{tls.key}: [tls] key: the key is encrypted; give the "
                          "unencrypted PEM key that belongs to " + str(tls.cert)) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ConfigError(f"{tls.key}: [tls] key: not a PEM private key") from None
    if _spki(key.public_key()) != _spki(cert.public_key()):
        raise ConfigError(
            f"{tls.key}: [tls] key does not match the certificate {tls.cert}: the key's "
            "public half is not the one the certificate names; give the key that was issued "
            "with this certificate")
    return cert


def _spki(public_key) -> bytes:
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def check_not_expired(cert_path: Path, cert: x509.Certificate, now_s: float) -> None:
    """ConfigError naming the certificate and when it expired, before any connection
    fails with a bare handshake error."""
    end = cert.not_valid_after_utc
    if end.timestamp() <= now_s:
        raise ConfigError(
            f"{cert_path}: this certificate expired at {end:%Y-%m-%dT%H:%M:%SZ}; it was not "
            "renewed in time. Join again with a new token (vault-agent enroll), or have an "
            "operator issue a new one (vaultctl pki issue)")


def channel_for(config) -> grpc.Channel:
    """The channel an ``agent.site.config.AgentConfig`` describes."""
    return open_channel(config.vault_address, config.tls, config.max_message_bytes,
                        insecure=config.insecure)
