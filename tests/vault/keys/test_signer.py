"""The vault's CSR signer (vault/keys/signer.py) with a real CA and real CSRs on a FakeClock:
it signs exactly the identity its caller allows, with the site PKI's profile, for its
lifetime (never past the CA's), and refuses anything else naming why; the expiry warning's
three cases."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from bulwark.vault.errors import ConfigError, InvalidRequest, PermissionDenied
from bulwark.vault.keys.signer import CertSigner, expiry_warning, not_after_s
from tests.lib.clock import NS_PER_S, FakeClock

NOW = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
CA_END = NOW + dt.timedelta(days=365)
DAY = 86_400


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _key_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_cert(path, key, subject: str, not_after: dt.datetime, issuer_key=None, ca=False):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(NOW - dt.timedelta(days=1)).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .sign(issuer_key or key, hashes.SHA256()))
    path.write_bytes(_pem(cert))
    return cert


@pytest.fixture
def ca(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = make_cert(tmp_path / "ca.crt", key, "bulwark site CA", CA_END, ca=True)
    (tmp_path / "ca.key").write_bytes(_key_pem(key))
    return cert, tmp_path / "ca.crt", tmp_path / "ca.key"


def signer(ca, lifetime_s: int = 90 * DAY) -> CertSigner:
    _, crt, key = ca
    return CertSigner(crt, key, lifetime_s, FakeClock(int(NOW.timestamp()) * NS_PER_S))


def csr(cn: str, ou: str, key=None, extra_ou: str | None = None) -> bytes:
    key = key or ec.generate_private_key(ec.SECP256R1())
    attrs = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "bulwark"),
             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
             x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if extra_ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, extra_ou))
    algorithm = None if isinstance(key, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
            .sign(key, algorithm).public_bytes(serialization.Encoding.DER))


def test_signs_the_allowed_identity_with_the_site_profile(ca):
    ca_cert = ca[0]
    signed = signer(ca).sign(csr("gpu-1", "node"), "gpu-1", "node")
    cert = x509.load_pem_x509_certificate(signed.pem)
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.rfc4514_string() == "CN=gpu-1,OU=node,O=bulwark"
    assert cert.serial_number == signed.serial
    assert cert.not_valid_after_utc == NOW + dt.timedelta(days=90)
    assert signed.not_after_s == int((NOW + dt.timedelta(days=90)).timestamp())
    assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert list(cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.CLIENT_AUTH]  # a client certificate can never serve as the vault


def test_a_lifetime_past_the_ca_ends_with_the_ca(ca):
    signed = signer(ca, lifetime_s=800 * DAY).sign(csr("op", "operator"), "op", "operator")
    assert x509.load_pem_x509_certificate(signed.pem).not_valid_after_utc == CA_END


@pytest.mark.parametrize("asked, allowed", [
    (("gpu-2", "node"), ("gpu-1", "node")),        # another node's name
    (("gpu-1", "operator"), ("gpu-1", "node")),    # another role
    (("gpu-1", "node+operator"), ("gpu-1", "node")),
])
def test_a_csr_for_another_identity_is_permission_denied(ca, asked, allowed):
    with pytest.raises(PermissionDenied, match=f"CN={asked[0]!r}, OU={asked[1]!r}; this "
                       f"request may only get CN={allowed[0]!r}, OU={allowed[1]!r}".replace(
                           "+", r"\+")):
        signer(ca).sign(csr(*asked), *allowed)


def test_a_repeated_ou_is_not_read_as_either_role(ca):
    with pytest.raises(PermissionDenied, match="OU=''"):
        signer(ca).sign(csr("gpu-1", "node", extra_ou="operator"), "gpu-1", "node")


def test_malformed_requests_say_what_is_wrong(ca):
    s = signer(ca)
    good = csr("gpu-1", "node")
    tampered = bytearray(good)
    tampered[-5] ^= 0xFF  # inside the signature
    for request, role, words in (
            (b"garbage", "node", "csr_der: not a PKCS#10 request"),
            (b"x" * 5000, "node", "csr_der: 5000 bytes, at most 4096"),
            (good, "root", "role 'root': not a client role"),
            (bytes(tampered), "node", "signature does not verify|not a PKCS#10 request"),
            (csr("gpu-1", "node", ed25519.Ed25519PrivateKey.generate()), "node",
             "the key must be ECDSA P-256"),
            (csr("gpu-1", "node", ec.generate_private_key(ec.SECP384R1())), "node",
             "the key must be ECDSA P-256")):
        with pytest.raises(InvalidRequest, match=words):
            s.sign(request, "gpu-1", role)


def test_a_key_that_is_not_the_cas_and_a_missing_file_are_config_errors(ca, tmp_path):
    _, crt, _ = ca
    other = tmp_path / "other.key"
    other.write_bytes(_key_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ConfigError, match=f"enroll.ca_key {other} is not the key of"):
        CertSigner(crt, other, DAY, FakeClock())
    with pytest.raises(ConfigError, match="enroll: cannot read .*missing.key"):
        CertSigner(crt, tmp_path / "missing.key", DAY, FakeClock())


@pytest.mark.parametrize("days_left, words", [
    (31, None),
    (10, "expires at 2026-01-20T00:00:00Z (in 9 days): renew it"),
    (-1, "EXPIRED at 2026-01-09T00:00:00Z"),
])
def test_expiry_warning_from_thirty_days_out(tmp_path, days_left, words):
    key = ec.generate_private_key(ec.SECP256R1())
    end = NOW + dt.timedelta(days=days_left)
    make_cert(tmp_path / "vault.crt", key, "vault", end)
    clock = FakeClock(int(NOW.timestamp() + 3600) * NS_PER_S)  # 9 days 23 hours left
    warning = expiry_warning("the vault's server certificate", tmp_path / "vault.crt", clock)
    assert warning is None if words is None else words in warning
    assert not_after_s(tmp_path / "vault.crt") == int(end.timestamp())
