"""``vaultctl init --host``: every name in the vault certificate, the first one in every
configuration, never a wildcard listen address; refused hosts name the flag."""

from __future__ import annotations

import ipaddress
import tomllib

import pytest
from cryptography import x509

from bulwark.agent.errors import ConfigError
from bulwark.agent.site.identity import issue_identity
from bulwark.agent.site.init import init_site

CLIENT_CONFIGS = ("agent.toml", "operator.toml", "officer.toml", "drill.toml")


def sans(path) -> list[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in names]


def doc(path) -> dict:
    return tomllib.loads(path.read_text())


@pytest.mark.parametrize("hosts, advertised", [
    (("vault.example", "vault", "10.0.0.5"), "vault.example:7443"),
    (("fd00::5", "vault.example"), "[fd00::5]:7443"),
])
def test_every_name_is_in_the_certificate_and_the_first_is_advertised(tmp_path, hosts,
                                                                      advertised):
    init_site(tmp_path, 7443, "gpu-1", hosts, enroll_port=7444)
    assert sans(tmp_path / "pki" / "vault.crt") == [*hosts, "localhost", "127.0.0.1"]
    cert = x509.load_pem_x509_certificate((tmp_path / "pki" / "vault.crt").read_bytes())
    ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value \
        .get_values_for_type(x509.IPAddress)
    assert ipaddress.ip_address("127.0.0.1") in ips  # IPs are IP SANs, not DNS names
    vault = doc(tmp_path / "vault.toml")
    assert vault["server"]["listen"] == "0.0.0.0:7443"  # listens on every address ...
    assert vault["enroll"] == {"listen": "0.0.0.0:7444", "ca_key": "pki/ca.key",
                               "advertise": advertised}
    for name in CLIENT_CONFIGS:  # ... and no client is ever told to connect to it
        assert doc(tmp_path / name)["vault"]["address"] == advertised, name
    # an identity issued later (vaultctl pki issue) is told the same real address
    issue_identity(tmp_path, "node", "gpu-2", config_name="gpu-2.toml")
    assert doc(tmp_path / "gpu-2.toml")["vault"]["address"] == advertised
    for path in tmp_path.glob("*.toml"):
        if path.name != "vault.toml":
            assert "0.0.0.0" not in path.read_text(), path


def test_without_hosts_the_site_stays_on_loopback(tmp_path):
    init_site(tmp_path, 7443, "gpu-1")
    assert sans(tmp_path / "pki" / "vault.crt") == ["localhost", "127.0.0.1"]
    assert doc(tmp_path / "vault.toml")["server"]["listen"] == "127.0.0.1:7443"
    assert "enroll" not in doc(tmp_path / "vault.toml")
    for name in CLIENT_CONFIGS:
        assert doc(tmp_path / name)["vault"]["address"] == "127.0.0.1:7443"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "*", "", "two words", "a/b", "[::1]"])
def test_a_host_no_client_can_use_is_refused_and_nothing_is_written(tmp_path, host):
    with pytest.raises(ConfigError, match=r"--host .*: give a DNS name or an IP address"):
        init_site(tmp_path / "site", 7443, "gpu-1", ("vault.example", host))
    assert not (tmp_path / "site").exists()
