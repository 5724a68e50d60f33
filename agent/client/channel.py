"""The one place a client opens a gRPC channel to the vault.

``open_channel`` makes an mTLS channel from the configuration's ``[tls]`` files (the CA
that signed the vault's certificate, this client's certificate and key), or a plaintext
channel only when the configuration says ``[vault] insecure = true``, which it logs as a
WARNING. Every client module (snapshots, restore, retention, drills, keys) gets its
channel here, so transport security is decided once.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509

from bulwark.agent.errors import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def channel_options(max_message_bytes: int) -> list[tuple[str, int]]:
    return [
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]


def open_channel(address: str, tls: TlsFiles | None, max_message_bytes: int = 16 << 20,
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
    check_not_expired(tls.cert, time.time())
    try:
        credentials = grpc.ssl_channel_credentials(
            root_certificates=tls.ca.read_bytes(),
            private_key=tls.key.read_bytes(),
            certificate_chain=tls.cert.read_bytes(),
        )
    except OSError as exc:
        raise ConfigError(f"{exc.filename}: [tls]: cannot read: {exc.strerror}") from None
    return grpc.secure_channel(address, credentials, options=options)


def check_not_expired(cert_path: Path, now_s: float) -> None:
    """ConfigError naming the certificate and when it expired, before any connection
    fails with a bare handshake error."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError):
        return  # the channel reports unreadable files itself
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
