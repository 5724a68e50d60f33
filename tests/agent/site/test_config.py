"""agent.toml validation: every error names the file, the key and the reason."""

from __future__ import annotations

import pytest

from bulwark.agent.errors import ConfigError
from bulwark.agent.site.config import load_agent_config

GOOD = """
[vault]
address = "127.0.0.1:7443"
[node]
name = "gpu-01"
[keys]
file = "tenant.key"
[tls]
ca = "pki/ca.crt"
cert = "pki/node.crt"
key = "pki/node.key"
"""


def test_good_config_resolves_paths_against_its_folder(tmp_path):
    path = tmp_path / "agent.toml"
    path.write_text(GOOD)
    config = load_agent_config(path)
    assert config.key_file == tmp_path / "tenant.key"
    assert config.cache_dir == tmp_path / "cache"
    assert config.node == "gpu-01" and config.workers >= 1
    assert config.tls.cert == tmp_path / "pki" / "node.crt" and not config.insecure


def test_tls_is_required_unless_insecure_is_explicit(tmp_path):
    path = tmp_path / "agent.toml"
    plain = GOOD.split("[tls]")[0]
    path.write_text(plain)
    with pytest.raises(ConfigError, match=r"\[tls\] ca is required"):
        load_agent_config(path)
    path.write_text(plain.replace('"127.0.0.1:7443"', '"127.0.0.1:7443"\ninsecure = true'))
    config = load_agent_config(path)
    assert config.insecure and config.tls is None


@pytest.mark.parametrize("text, fragment", [
    ("[vault]\naddress = 1", "[vault] address must be a string, got 1"),
    ('[vault]\naddress = "h:1"\n[keys]\nfile="k"\n[backup]\nworkers = "2"',
     "[backup] workers must be an integer, got '2'"),
    ('[vault]\naddress = "h:1"\ninsecure = 1\n[keys]\nfile="k"',
     "[vault] insecure must be true or false, got 1"),
    ('[vault]\naddress = "nowhere"\n[keys]\nfile="k"', "HOST:PORT"),
    ('[vault]\naddress = "h:1"\n[keys]\nfile="k"\n[backup]\nworkers = 0', "workers"),
    ('[vault]\naddress = "h:1"\n[keys]\nfile="k"\n[backup]\nthreads = 2', "unknown key 'threads'"),
    ('[vault]\naddress = "h:1"\n[keyz]\nfile="k"', "unknown table [keyz]"),
    ('[vault]\naddress = "h:1"', "[keys] file is required"),
    ("[vault\n", "not valid TOML"),
])
def test_bad_config_names_file_key_and_reason(tmp_path, text, fragment):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_agent_config(path)
    assert str(path) in str(info.value) and fragment in str(info.value)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_agent_config(tmp_path / "absent.toml")
