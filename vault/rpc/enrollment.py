"""Fleet wiring: the enrollment listener, the Fleet service, and the vault's own certificate.

Why a separate listener (``[enroll] listen``) rather than optional client certificates on
the main port: the main port keeps requiring a client certificate in the TLS handshake, so
no code path there (authorization table, servicers, reflection, health) ever runs for a
caller without one; the enrollment listener registers the ``Enrollment`` service and
nothing else (any other method is UNIMPLEMENTED before any servicer code runs), asks for
no client certificate, and presents the vault's certificate followed by the CA's, so a
joining node can pin the CA by fingerprint (agent.client.enroll) before it sends its token.

:func:`reloading_credentials` serves the main port's certificate from the files in
``[tls]`` and re-reads them when they change (checked before each new handshake), so
``vaultctl pki renew-vault`` takes effect without restarting vaultd.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from bulwark.protos.bulwark.v1 import enroll_pb2_grpc
from bulwark.vault.audit.log import AuditLog
from bulwark.vault.config import VaultConfig
from bulwark.vault.errors import ConfigError
from bulwark.vault.keys.registry import Registry
from bulwark.vault.keys.signer import CertSigner
from bulwark.vault.keys.tokens import TokenStore
from bulwark.vault.rpc.enroll_service import EnrollmentService, FleetService
from bulwark.vault.worm.clock import Clock, SystemClock

log = logging.getLogger(__name__)
WORKERS = 4


@dataclass(frozen=True)
class Enrollment:
    """The token store and the CSR signer of a vault with ``[enroll]``."""

    tokens: TokenStore
    signer: CertSigner

    def close(self) -> None:
        self.tokens.close()


def open_enrollment(config: VaultConfig, clock: Clock,
                    wall: Clock | None = None) -> Enrollment | None:
    """The vault's Enrollment (None without ``[enroll]``). ``clock`` times tokens (the
    vault's clock); ``wall`` dates certificates (default the system clock: TLS checks it)."""
    e = config.enroll
    if e is None:
        return None
    ca_cert = e.ca_cert or (config.tls.ca if config.tls else None)
    if ca_cert is None:
        raise ConfigError(f"{config.source}: enroll.ca_cert: required without [tls] ca")
    signer = CertSigner(ca_cert, e.ca_key, e.cert_hours * 3600, wall or SystemClock(),
                        str(config.source))
    tokens = TokenStore(e.tokens or config.catalog_path.parent / "tokens.sqlite", clock)
    return Enrollment(tokens, signer)


def add_fleet(server: grpc.Server, enrollment: Enrollment | None, audit: AuditLog) -> None:
    """Serve ``bulwark.v1.Fleet`` on the main (mTLS) server."""
    tokens, signer = (enrollment.tokens, enrollment.signer) if enrollment else (None, None)
    enroll_pb2_grpc.add_FleetServicer_to_server(FleetService(tokens, signer, audit), server)


def build_enroll_server(config: VaultConfig, enrollment: Enrollment, audit: AuditLog,
                        main_port: int, clock: Clock | None = None) -> tuple[grpc.Server, int]:
    """The bound, not started enrollment listener and its port (TLS, no client auth).

    It has its own connection to the node registry (``keys.sqlite``; SQLite serializes the
    writes of both servers)."""
    assert config.enroll is not None and config.tls is not None
    registry = Registry(config.registry_path or config.catalog_path.parent / "keys.sqlite",
                        clock or SystemClock(), config.enroll_file)
    try:
        chain = config.tls.cert.read_bytes().rstrip(b"\n") + b"\n" + enrollment.signer.ca_pem
        key = config.tls.key.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{config.source}: tls: cannot read {exc.filename}: "
                          f"{exc.strerror}") from None
    server = grpc.server(ThreadPoolExecutor(WORKERS, thread_name_prefix="vault-enroll"),
                         options=[("grpc.so_reuseport", 0),
                                  ("grpc.max_receive_message_length", 64 << 10)])
    enroll_pb2_grpc.add_EnrollmentServicer_to_server(
        EnrollmentService(enrollment.tokens, enrollment.signer, registry, audit,
                          config.enroll.advertise, main_port), server)
    credentials = grpc.ssl_server_credentials([(key, chain)], require_client_auth=False)
    try:
        port = server.add_secure_port(config.enroll.listen, credentials)
    except RuntimeError as exc:
        port, reason = 0, str(exc)
    else:
        reason = "address in use or not local"
    if port == 0:
        raise ConfigError(f"{config.source}: enroll.listen: cannot bind "
                          f"{config.enroll.listen}: {reason}")
    return server, port


def _stamp(*paths: Path) -> tuple:
    try:
        return tuple((os.stat(p).st_mtime_ns, os.stat(p).st_size) for p in paths)
    except OSError:
        return ()


def _matching(key_pem: bytes, cert_pem: bytes) -> bool:
    public = serialization.load_pem_private_key(key_pem, password=None).public_key()
    cert_key = x509.load_pem_x509_certificate(cert_pem).public_key()
    return public.public_bytes(*_SPKI) == cert_key.public_bytes(*_SPKI)


_SPKI = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def reloading_credentials(cert: Path, key: Path, ca: bytes,
                          initial: tuple[bytes, bytes]) -> grpc.ServerCredentials:
    """mTLS server credentials whose own certificate follows the files ``cert``/``key``.

    A pair that cannot be read (a renewal half-written) keeps the last good one."""
    state = {"stamp": _stamp(cert, key)}
    lock = threading.Lock()

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        stamp = _stamp(cert, key)
        with lock:
            if not stamp or stamp == state["stamp"]:
                return None
            try:
                pair = (key.read_bytes(), cert.read_bytes())
                if not _matching(*pair):
                    return None  # one file renewed, the other not yet: next handshake
            except (OSError, ValueError) as exc:
                log.error("tls: keeping the current certificate: %s", exc)
                return None
            state["stamp"] = stamp
        log.info("tls: serving the renewed certificate %s", cert)
        return grpc.ssl_server_certificate_configuration([pair], root_certificates=ca)

    return grpc.dynamic_ssl_server_credentials(
        grpc.ssl_server_certificate_configuration([initial], root_certificates=ca), fetch,
        require_client_authentication=True)
