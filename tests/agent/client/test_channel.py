"""agent.client.channel: the [tls] files are checked before a channel exists, so a wrong file
is a configuration error naming it (exit 2), not an unreachable vault later."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization

from bulwark.agent.client.channel import TlsFiles, open_channel
from bulwark.agent.errors import ConfigError
from bulwark.agent.site import pki
from tests.e2e.conftest import free_port


@pytest.fixture
def issued(tmp_path):
    ca = pki.init_ca(tmp_path / "pki")
    return ca, pki.issue(tmp_path / "pki", "operator", "a"), pki.issue(tmp_path / "pki",
                                                                       "operator", "b")


def _open(ca, cert, key):
    return open_channel(f"127.0.0.1:{free_port()}", TlsFiles(ca, cert, key))


def test_a_key_that_is_not_the_certificates_names_both_files(issued):
    ca, a, b = issued
    with pytest.raises(ConfigError) as err:
        _open(ca, a.cert, b.key)
    assert str(err.value).startswith(f"{b.key}: [tls] key does not match the certificate "
                                     f"{a.cert}")
    assert err.value.exit_code == 2


def test_files_that_are_no_key_or_no_certificate_are_named(issued):
    ca, a, _ = issued
    with pytest.raises(ConfigError, match=f"^{a.cert}: \\[tls\\] key: not a PEM private key"):
        _open(ca, a.cert, a.cert)
    with pytest.raises(ConfigError, match=f"^{a.key}: \\[tls\\] cert: not a PEM certificate"):
        _open(ca, a.key, a.key)


def test_an_encrypted_key_is_named_as_such(issued, tmp_path):
    ca, a, _ = issued
    key = serialization.load_pem_private_key(a.key.read_bytes(), password=None)
    locked = tmp_path / "locked.key"
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"pw")))
    with pytest.raises(ConfigError, match=f"^{locked}: \\[tls\\] key: the key is encrypted"):
        _open(ca, a.cert, locked)


def test_a_certificate_with_its_own_key_makes_a_channel(issued):
    ca, a, _ = issued
    _open(ca, a.cert, a.key).close()
