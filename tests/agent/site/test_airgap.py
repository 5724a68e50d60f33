"""``vaultctl init --airgap``: the files of an air-gap site, and what it refuses."""

from __future__ import annotations

import stat
import tomllib

import pytest

from bulwark.agent.errors import ConfigError
from bulwark.agent.site.airgap import init_airgap_site
from bulwark.agent.site.identity import issue_identity
from bulwark.agent.site.init import init_site


@pytest.fixture
def primary(tmp_path):
    directory = tmp_path / "primary"
    init_site(directory, 7443, "gpu-a")
    issue_identity(directory, "replica", "ag1")
    return directory


def make(primary, target, **kw):
    pki = primary / "pki"
    args = {"replica_cert": pki / "replica-ag1.crt", "replica_key": pki / "replica-ag1.key",
            "tenant_key": primary / "tenant.key", **kw}
    return init_airgap_site(target, 7444, "vault.example:7443", pki / "ca.crt", **args)


def test_an_airgap_site_has_its_own_ca_and_the_primarys_replica_identity(primary, tmp_path):
    target = tmp_path / "airgap"
    make(primary, target)
    assert (target / "pki/ca.crt").read_bytes() != (primary / "pki/ca.crt").read_bytes()
    assert (target / "pki/primary/ca.crt").read_bytes() == (primary / "pki/ca.crt").read_bytes()
    assert stat.S_IMODE((target / "pki/primary/replica.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((target / "tenant.key").stat().st_mode) == 0o600
    doc = tomllib.loads((target / "vault.toml").read_text())
    assert doc["retention"]["mode"] == "compliance" and doc["airgap"]["primary"] == \
        "vault.example:7443"
    assert {p.name for p in target.glob("*.toml")} == {"vault.toml", "operator.toml",
                                                        "officer.toml", "drill.toml"}
    assert (target / "store/BULWARK-STORE").exists() and not (target / "agent.toml").exists()


@pytest.mark.parametrize(("change", "message"), [
    ({"replica_key": None}, "go together"),
    ({"tenant_key": "missing"}, "--tenant-key"),
])
def test_bad_input_is_refused_naming_the_flag(primary, tmp_path, change, message):
    if change.get("tenant_key") == "missing":
        change = {"tenant_key": tmp_path / "nope.key"}
    with pytest.raises(ConfigError, match=message):
        make(primary, tmp_path / "airgap", **change)


def test_a_bad_primary_address_and_an_existing_site_are_refused(primary, tmp_path):
    pki = primary / "pki"
    with pytest.raises(ConfigError, match="HOST:PORT"):
        init_airgap_site(tmp_path / "a", 7444, "nohost", pki / "ca.crt",
                         tenant_key=primary / "tenant.key")
    make(primary, tmp_path / "b")
    with pytest.raises(ConfigError, match="refusing to overwrite"):
        make(primary, tmp_path / "b")
