"""The built-in PKI: one certificate authority per site, certificates for every role.

::

    DIR/pki/ca.key   (0600)  ca.crt          ECDSA P-256 CA, self-signed, 10 years
    DIR/pki/vault.key (0600) vault.crt       server: CN=vault, SAN DNS/IP of the listen host
    DIR/pki/<role>-<name>.key (0600) .crt    client: CN=<name>, OU=<role>, O=bulwark

The role sits in the subject's OU, which ``vault.rpc.identity`` reads (the one parser). Keys
are ECDSA P-256 with SHA-256 signatures (``cryptography``; every TLS stack gRPC links
accepts them); certificates are X.509 v3 with the extended key usage that
matches their side (serverAuth or clientAuth), so a client certificate cannot serve as a
vault and the other way round.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bulwark.agent.errors import ConfigError

ROLES = ("node", "operator", "officer", "replica", "drill")
ORGANIZATION = "bulwark"
CA_DAYS = 3650
LEAF_DAYS = 825
_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


@dataclass(frozen=True)
class Issued:
    """Paths of one issued certificate and its private key."""

    cert: Path
    key: Path
    serial: int


def check_name(name: str) -> str:
    """Identity names are file-name safe: letters, digits, ``-_.``, 1..64 characters."""
    if not 0 < len(name) <= 64 or not set(name) <= _NAME_CHARS or name.startswith("."):
        raise ConfigError(
            f"invalid identity name {name!r}: use 1-64 letters, digits, '-', '_' or '.'"
        )
    return name


def _new_key():
    # P-256: every TLS stack gRPC links against accepts it for client and server auth.
    return generate_private_key(SECP256R1())


def _write(path: Path, data: bytes, private: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o600 if private else 0o644)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; refusing to overwrite") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot create: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _key_pem(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ca_paths(pki_dir: Path) -> tuple[Path, Path]:
    return pki_dir / "ca.crt", pki_dir / "ca.key"


def init_ca(pki_dir: Path, name: str = "bulwark site CA") -> Path:
    """Create ``pki_dir`` with a new CA; refuses to overwrite one. Returns the CA cert path."""
    pki_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    crt_path, key_path = ca_paths(pki_dir)
    if crt_path.exists() or key_path.exists():
        raise ConfigError(f"{pki_dir}: already holds a CA; refusing to overwrite it")
    key = _new_key()
    subject = x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
        x509.NameAttribute(NameOID.COMMON_NAME, name),
    ])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(crt_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return crt_path


def _load_ca(pki_dir: Path):
    crt_path, key_path = ca_paths(pki_dir)
    try:
        cert = x509.load_pem_x509_certificate(crt_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except FileNotFoundError as exc:
        raise ConfigError(
            f"{exc.filename}: no CA here; create one with: vaultctl pki init {pki_dir.parent}"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{pki_dir}: cannot read the CA: {exc}") from None
    return cert, key


def issue(
    pki_dir: Path,
    role: str,
    name: str,
    *,
    hosts: tuple[str, ...] = (),
    days: int = LEAF_DAYS,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    stem: str | None = None,
) -> Issued:
    """Issue a certificate signed by the CA in ``pki_dir``.

    ``role`` is one of :data:`ROLES` (a client certificate) or ``"vault"`` (the server
    certificate; ``hosts`` become its DNS/IP subject alternative names). Files are
    ``<stem>.crt`` / ``<stem>.key`` with ``stem`` defaulting to ``<role>-<name>``.
    ``not_before``/``not_after`` override the validity window (tests make expired ones).
    """
    check_name(name)
    if role != "vault" and role not in ROLES:
        raise ConfigError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
    ca_cert, ca_key = _load_ca(pki_dir)
    stem = stem or f"{role}-{name}"
    crt_path, key_path = pki_dir / f"{stem}.crt", pki_dir / f"{stem}.key"
    for path in (crt_path, key_path):
        if path.exists():
            raise ConfigError(f"{path}: already exists; refusing to overwrite")
    key = _new_key()
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION)]
    if role != "vault":
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, name))
    now = dt.datetime.now(dt.UTC)
    serial = x509.random_serial_number()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name(attrs))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(not_before or now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, True, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([
                ExtendedKeyUsageOID.SERVER_AUTH if role == "vault"
                else ExtendedKeyUsageOID.CLIENT_AUTH
            ]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
    )
    if role == "vault":
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_san(h) for h in hosts or ("localhost", "127.0.0.1")]),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    _write(key_path, _key_pem(key), private=True)
    _write(crt_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return Issued(crt_path, key_path, serial)


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def vault_hosts(cert_path: Path) -> list[str]:
    """The DNS names and IP addresses a vault certificate is valid for, in order."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (OSError, ValueError, x509.ExtensionNotFound) as exc:
        raise ConfigError(f"{cert_path}: cannot read the vault's names: {exc}") from None
    return [str(n.value) for n in san]


#: Listen addresses that are no address a client can connect to: never a certificate name.
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "*")


def check_host(host: str) -> str:
    """A name or address clients can use (``--host``): ConfigError for a wildcard, an empty
    name, or characters no host name or address has."""
    if not host or any(c in host for c in " /,[]") or host in WILDCARD_HOSTS:
        raise ConfigError(f"--host {host!r}: give a DNS name or an IP address clients use")
    return host


def reissue_vault(pki_dir: Path, hosts: tuple[str, ...], days: int = LEAF_DAYS) -> Issued:
    """Replace ``vault.crt``/``vault.key`` with a new key and certificate for ``hosts``
    (run where the CA key is: the vault host). The new files are written aside and renamed
    over the old ones, key first; a running vaultd serves them from its next handshake.
    A wildcard or malformed host is refused before anything is written."""
    for host in hosts:
        check_host(host)
    for stem in ("vault.next",):
        for ext in (".crt", ".key"):
            (pki_dir / f"{stem}{ext}").unlink(missing_ok=True)
    issued = issue(pki_dir, "vault", "vault", hosts=hosts, days=days, stem="vault.next")
    os.replace(issued.key, pki_dir / "vault.key")
    os.replace(issued.cert, pki_dir / "vault.crt")
    return Issued(pki_dir / "vault.crt", pki_dir / "vault.key", issued.serial)


def fingerprint(cert_path: Path) -> str:
    """SHA-256 of a PEM certificate's DER bytes, lowercase hex (``--ca-fingerprint``)."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cert_path}: cannot read certificate: {exc}") from None
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def serial_of(cert_path: Path) -> int:
    """The serial number of a PEM certificate (what vault.toml ``tls.revoked`` lists)."""
    try:
        return x509.load_pem_x509_certificate(cert_path.read_bytes()).serial_number
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{cert_path}: cannot read certificate: {exc}") from None
