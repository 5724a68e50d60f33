"""A node joins a fleet, and any identity renews its certificate, without a private key ever
leaving the host it was made on.

``join_site(config_path, ...)`` (``vault-agent enroll``) writes, next to ``config_path``::

    pki/ca.crt                 the pinned site CA (public)
    pki/<role>-<name>.key      0600, made here        pki/<role>-<name>.crt   signed by the vault
    node.key                   0600, write-only: the token's bundle, the token it joined with,
                               and the signing seed derived here from the token and the name
    agent.toml                 [vault] the vault's real address, [tls], [keys], [cache]

and refuses to overwrite any of them. ``renew(config, fleet)`` makes a new key and CSR for
the same subject, has the vault sign it (``Fleet.Renew``, authenticated by the current
certificate), and replaces key and certificate (each by rename). :func:`renewal_due` is the
daemon's rule: renew when less than ``share`` of the certificate's life is left.
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key
from cryptography.x509.oid import NameOID

from bulwark.agent.client.enroll import FleetClient, join, pinned_ca
from bulwark.agent.errors import ConfigError, KeyMaterialError
from bulwark.agent.format.crypto import public_signing_key
from bulwark.agent.keys.join import JoinToken
from bulwark.agent.keys.keyfile import write_joined_node_key_file
from bulwark.agent.site.identity import write_toml
from bulwark.agent.site.pki import ORGANIZATION, check_name
from bulwark.protos.bulwark.v1 import enroll_pb2

DEFAULT_RENEW_SHARE = 1 / 3


def make_csr(name: str, role: str) -> tuple[bytes, bytes]:
    """A new P-256 key (PEM) and a CSR (DER) for ``CN=name, OU=role, O=bulwark``."""
    key = generate_private_key(SECP256R1())
    csr = (x509.CertificateSigningRequestBuilder()
           .subject_name(x509.Name([
               x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
               x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
               x509.NameAttribute(NameOID.COMMON_NAME, name)]))
           .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return pem, csr.public_bytes(serialization.Encoding.DER)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    except FileExistsError:
        raise ConfigError(f"{path}: already exists; refusing to overwrite") from None
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _replace(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".new")
    tmp.unlink(missing_ok=True)
    _write_new(tmp, data, mode)
    os.replace(tmp, path)


@dataclass(frozen=True)
class JoinResult:
    config: Path
    name: str
    role: str
    vault_address: str
    serial: str
    not_after_s: int
    written: list[Path]


def join_site(config_path: Path, vault: str, pin: str, token_text: str, name: str,
              role: str = "node") -> JoinResult:
    """Join the vault at ``vault`` (its enrollment listener) as ``name``; see the module doc."""
    token = JoinToken.parse(token_text)
    check_name(name)
    config_path = Path(config_path)
    base = config_path.parent
    base.mkdir(parents=True, exist_ok=True)
    stem = f"{role}-{name}"
    files = {"ca": base / "pki" / "ca.crt", "key": base / "pki" / f"{stem}.key",
             "cert": base / "pki" / f"{stem}.crt", "node_key": base / "node.key"}
    for path in (config_path, *files.values()):
        if path.exists():
            raise ConfigError(f"{path}: already exists; refusing to overwrite (join once)")
    ca_pem = pinned_ca(vault, pin)  # before the token is sent anywhere
    key_pem, csr = make_csr(name, role)
    # The node's snapshot signing seed: derived here from the token's secret and the name,
    # never sent; readers derive its public key from the tenant key (FORMAT.md "Joined
    # nodes' signing keys"), not from what the vault enrolls.
    seed = token.signing_seed(name)
    (base / "pki").mkdir(mode=0o700, exist_ok=True)
    _write_new(files["key"], key_pem, 0o600)
    try:
        reply = join(vault, ca_pem, enroll_pb2.JoinRequest(
            token_id=token.id, token_secret=token.auth, name=name, csr_der=csr,
            signing_public_key=public_signing_key(seed)))
        bundle = token.open(reply.sealed_bundle)
        if not bundle["origin"].covers(name):
            raise KeyMaterialError(f"{bundle['origin'].describe()} does not cover {name!r}, "
                                   "yet the vault let it join: refusing the bundle")
    except Exception:
        files["key"].unlink()
        raise
    _write_new(files["ca"], ca_pem, 0o644)
    _write_new(files["cert"], reply.certificate_pem, 0o644)
    write_joined_node_key_file(files["node_key"], bundle["tenant"], name, bundle["id_key"],
                               bundle["restore_public"], seed, bundle["origin"],
                               restore_generation=bundle["restore_generation"],
                               restore_authority=bundle["restore_authority"])
    address = reply.vault_address or f"{vault.rpartition(':')[0]}:{reply.vault_port}"
    write_toml(config_path, {
        "vault": {"address": address},
        "node": {"name": name},
        "keys": {"file": "node.key"},
        "tls": {"ca": "pki/ca.crt", "cert": f"pki/{stem}.crt", "key": f"pki/{stem}.key"},
        "cache": {"path": "cache"},
    })
    return JoinResult(config_path, name, reply.role, address, reply.serial_hex,
                      reply.not_after_s, [*files.values(), config_path])


def renewal_due(cert_path: Path, share: float, now: dt.datetime) -> bool:
    """Whether less than ``share`` of the certificate's life is left at ``now``."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    total = (cert.not_valid_after_utc - cert.not_valid_before_utc).total_seconds()
    left = (cert.not_valid_after_utc - now).total_seconds()
    return left < share * total


def renew(cert_path: Path, key_path: Path, fleet: FleetClient) -> enroll_pb2.CertificateReply:
    """Renew the certificate at ``cert_path`` (same subject, new key); replaces both files."""
    cert = x509.load_pem_x509_certificate(Path(cert_path).read_bytes())
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    units = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(names) != 1 or len(units) != 1:
        raise ConfigError(f"{cert_path}: not a client certificate of this site (CN, OU)")
    key_pem, csr = make_csr(str(names[0].value), str(units[0].value))
    reply = fleet.renew(csr)
    _replace(Path(key_path), key_pem, 0o600)
    _replace(Path(cert_path), reply.certificate_pem, 0o644)
    return reply
