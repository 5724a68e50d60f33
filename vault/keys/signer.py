"""The vault as a certificate issuer: it signs the CSRs of joining and renewing identities.

vaultd reads the site CA (``[enroll] ca_cert``/``ca_key``) only when ``[enroll]`` is set,
and signs a certificate only through :meth:`CertSigner.sign`, which takes the identity
from its caller (a redeemed join token, or the certificate a renewing caller presented),
never from the CSR alone: a CSR whose subject is not exactly ``CN=<name>, OU=<role>,
O=bulwark`` is refused (``PermissionDenied``), so a token for ``gpu-`` cannot make an
operator and a node cannot renew into another node's name. Certificates match the site
PKI's (agent.site.pki): ECDSA P-256 keys, SHA-256, clientAuth, CA:FALSE, and live
``lifetime_s`` seconds from the signer's wall clock (TLS checks wall time).

:func:`expiry_warning` is the vault's own check: a WARNING line from
``WARN_DAYS`` days before its server certificate or the CA expires.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bulwark.vault.caller import ROLES
from bulwark.vault.errors import ConfigError, InvalidRequest, PermissionDenied
from bulwark.vault.worm.clock import Clock

ORGANIZATION = "bulwark"
WARN_DAYS = 30
MAX_CSR_BYTES = 4096


@dataclass(frozen=True)
class Signed:
    """A certificate the signer issued."""

    pem: bytes
    serial: int
    not_after_s: int


def _utc(clock: Clock) -> dt.datetime:
    return dt.datetime.fromtimestamp(clock.now_ns() / 1e9, dt.UTC)


def iso(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class CertSigner:
    """Signs client certificates with the site CA."""

    def __init__(self, ca_cert: Path, ca_key: Path, lifetime_s: int, clock: Clock,
                 source: str = "vault.toml") -> None:
        try:
            self.ca_pem = Path(ca_cert).read_bytes()
            self.ca = x509.load_pem_x509_certificate(self.ca_pem)
            key = serialization.load_pem_private_key(Path(ca_key).read_bytes(), password=None)
        except OSError as exc:
            raise ConfigError(f"{source}: enroll: cannot read {exc.filename}: "
                              f"{exc.strerror}") from None
        except ValueError as exc:
            raise ConfigError(f"{source}: enroll: the CA certificate or key is unreadable: "
                              f"{exc}") from None
        if key.public_key().public_numbers() != self.ca.public_key().public_numbers():
            raise ConfigError(f"{source}: enroll.ca_key {ca_key} is not the key of "
                              f"enroll.ca_cert {ca_cert}")
        self._key = key
        self.lifetime_s = lifetime_s
        self._clock = clock

    def sign(self, csr_der: bytes, name: str, role: str) -> Signed:
        """Sign ``csr_der`` for ``name``/``role`` after checking the CSR asks for exactly that."""
        if role not in ROLES:
            raise InvalidRequest(f"role {role!r}: not a client role")
        if len(csr_der) > MAX_CSR_BYTES:
            raise InvalidRequest(f"csr_der: {len(csr_der)} bytes, at most {MAX_CSR_BYTES}")
        try:
            csr = x509.load_der_x509_csr(csr_der)
        except ValueError as exc:
            raise InvalidRequest(f"csr_der: not a PKCS#10 request: {exc}") from None
        if not csr.is_signature_valid:
            raise InvalidRequest("csr_der: the request's signature does not verify")
        public = csr.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
            raise InvalidRequest("csr_der: the key must be ECDSA P-256")
        asked = subject_of(csr.subject)
        if asked != (name, role):
            raise PermissionDenied(
                f"the CSR asks for CN={asked[0]!r}, OU={asked[1]!r}; this request may only "
                f"get CN={name!r}, OU={role!r}")
        now = _utc(self._clock)
        not_after = now + dt.timedelta(seconds=self.lifetime_s)
        if not_after > self.ca.not_valid_after_utc:
            not_after = self.ca.not_valid_after_utc
        serial = x509.random_serial_number()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]))
            .issuer_name(self.ca.subject)
            .public_key(public)
            .serial_number(serial)
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, True, False, False, False, False, False, False),
                critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self._key.public_key()),
                False)
            .sign(self._key, hashes.SHA256())
        )
        return Signed(cert.public_bytes(serialization.Encoding.PEM), serial,
                      int(not_after.timestamp()))


def subject_of(name: x509.Name) -> tuple[str, str]:
    """``(CN, OU)`` of a subject ('' where absent or repeated)."""
    def one(oid) -> str:
        values = name.get_attributes_for_oid(oid)
        return str(values[0].value) if len(values) == 1 else ""
    return one(NameOID.COMMON_NAME), one(NameOID.ORGANIZATIONAL_UNIT_NAME)


def expiry_warning(what: str, cert_path: Path, clock: Clock) -> str | None:
    """A warning line if the certificate at ``cert_path`` expires within ``WARN_DAYS``, or
    is not valid yet (the host's clock is before its start)."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    now = _utc(clock)
    if now < cert.not_valid_before_utc:  # issue 15: a clock set backwards
        return (f"{what} {cert_path} is not yet valid: this host's clock says {iso(now)}, "
                f"before the certificate's start {iso(cert.not_valid_before_utc)}; every TLS "
                "handshake fails until the clock is set right")
    left = cert.not_valid_after_utc - now
    if left > dt.timedelta(days=WARN_DAYS):
        return None
    if left.total_seconds() <= 0:
        return f"{what} {cert_path} EXPIRED at {iso(cert.not_valid_after_utc)}"
    return (f"{what} {cert_path} expires at {iso(cert.not_valid_after_utc)} "
            f"(in {left.days} days): renew it (docs/operations.md \"Certificates\")")


def not_after_s(cert_path: Path) -> int:
    """Unix time a PEM certificate expires."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    return int(cert.not_valid_after_utc.timestamp())
