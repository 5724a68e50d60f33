"""vault.toml ``[airgap]``: parsed values, and errors that name the file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from bulwark.vault.config import load_config
from bulwark.vault.errors import ConfigError

BASE = """
[server]
insecure = true
[airgap]
primary = "10.0.0.1:7443"
primary_ca = "pki/primary/ca.crt"
cert = "pki/primary/replica.crt"
key = "/etc/bulwark/replica.key"
"""
WINDOW = '[[airgap.window]]\ncron = "0 2 * * *"\nduration = "2h"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "vault.toml"
    path.write_text(text)
    return path


def test_a_full_airgap_table(tmp_path):
    extra = ('max_mib_per_s = 50\nlag_limit_hours = 30\non_open = ["ip", "link", "set", "e1",'
             ' "up"]\nprimary_name = "vault"\n')
    config = load_config(write(tmp_path, BASE + extra + WINDOW))
    ag = config.airgap
    assert ag is not None and ag.primary == "10.0.0.1:7443"
    assert ag.primary_ca == tmp_path / "pki/primary/ca.crt" and ag.key.is_absolute()
    assert ag.windows[0].cron == "0 2 * * *" and ag.windows[0].seconds == 7200
    assert ag.max_bytes_per_s == 50 << 20 and ag.lag_limit_hours == 30
    assert ag.on_open == ("ip", "link", "set", "e1", "up") and ag.primary_name == "vault"
    assert load_config(write(tmp_path, '[server]\ninsecure = true\n')).airgap is None


@pytest.mark.parametrize(("text", "key", "reason"), [
    (BASE, "airgap.window", "at least one"),
    (BASE.replace('"10.0.0.1:7443"', '"nohost"'), "airgap.primary", "HOST:PORT"),
    (BASE.replace('cert = "pki/primary/replica.crt"\n', "") + WINDOW, "airgap.cert", "required"),
    (BASE + "colour = 1\n" + WINDOW, "airgap.colour", "unknown key"),
    (BASE + WINDOW.replace('"2h"', '"2 hours"'), "airgap.window[0].duration", "positive"),
    (BASE + WINDOW.replace('"0 2 * * *"', '"0 25 * * *"'), "airgap.window[0].cron", "25"),
    (BASE + "max_mib_per_s = -1\n" + WINDOW, "airgap.max_mib_per_s", "between"),
    (BASE + 'on_close = "ip link set e1 down"\n' + WINDOW, "airgap.on_close", "list"),
    (BASE.replace('"/etc/bulwark/replica.key"', '"~0/replica.key"') + WINDOW, "airgap.key",
     "home folder"),
])
def test_errors_name_the_file_key_and_reason(tmp_path, text, key, reason):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and key in str(err.value) and reason in str(err.value)
