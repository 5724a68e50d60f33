"""Daemon configuration errors name the file, the entry, the key and the reason."""

from __future__ import annotations

import pytest

from bulwark.agent.daemon.config import load_daemon_config
from bulwark.agent.errors import ConfigError

GOOD = """
[[backup_set]]
name = "ckpt"
paths = ["/data/ckpt"]
exclude = ["*.tmp"]
tags = ["gpu"]
schedule = "0 */6 * * *"
retention_days = 30

[[drill]]
name = "weekly"
schedule = "0 3 * * 0"
set = "ckpt"
validate = "true"
timeout = 60

[metrics]
listen = "127.0.0.1:0"

[daemon]
state_dir = "/var/lib/bulwark-agent/state"
"""


def write(tmp_path, text):
    path = tmp_path / "agent.toml"
    path.write_text(text)
    return path


def test_good_config(tmp_path):
    config = load_daemon_config(write(tmp_path, GOOD))
    [s] = config.backup_sets
    assert (s.name, s.paths, s.exclude, s.retention_days) == ("ckpt", ("/data/ckpt",),
                                                              ("*.tmp",), 30)
    assert config.drills[0].set == "ckpt" and config.drills[0].timeout == 60
    assert config.metrics_listen == ("127.0.0.1", 0)
    assert str(config.state_dir) == "/var/lib/bulwark-agent/state"


@pytest.mark.parametrize("old, new, expected", [
    ('schedule = "0 */6 * * *"', 'schedule = "0 */6 * *"',
     "[[backup_set]] #1 ('ckpt') schedule: '0 */6 * *' is not a 5-field cron"),
    ('schedule = "0 */6 * * *"', 'schedule = "0 25 * * *"',
     "[[backup_set]] #1 ('ckpt') schedule: invalid cron expression"),
    ('paths = ["/data/ckpt"]', 'paths = "/data/ckpt"',
     "[[backup_set]] #1 ('ckpt') paths: must be a list"),
    ('retention_days = 30', 'retention_days = 0',
     "[[backup_set]] #1 ('ckpt') retention_days: must be at least 1"),
    ('retention_days = 30', 'retention_days = "30"',
     "[[backup_set]] #1 ('ckpt') retention_days: must be an integer, got '30'"),
    ('schedule = "0 */6 * * *"', 'schedule = 6',
     "[[backup_set]] #1 ('ckpt') schedule: must be a string, got 6"),
    ('set = "ckpt"', 'sett = "ckpt"', "[[drill]] #1 ('weekly'): unknown key 'sett'"),
    ('listen = "127.0.0.1:0"', 'listen = "nowhere"', "[metrics] listen: must be HOST:PORT"),
    ('name = "weekly"', 'name = "ckpt"\n', None),
])
def test_errors_name_file_key_and_reason(tmp_path, old, new, expected):
    path = write(tmp_path, GOOD.replace(old, new))
    if expected is None:  # names are per table: a drill may share its set's name
        load_daemon_config(path)
        return
    with pytest.raises(ConfigError) as err:
        load_daemon_config(path)
    assert str(err.value).startswith(f"{path}: ") and expected in str(err.value)
    assert err.value.exit_code == 2


def test_renewal_settings_default_and_are_checked(tmp_path):
    config = load_daemon_config(write(tmp_path, GOOD))
    assert (config.renew_share, config.renew_every) == (pytest.approx(1 / 3), 3600)
    config = load_daemon_config(write(tmp_path, GOOD + "renew_share = 0.5\nrenew_every = 60\n"))
    assert (config.renew_share, config.renew_every) == (0.5, 60)
    for line, expected in (
            ("renew_share = 0", "[daemon] renew_share: must be a share of the certificate's "
                                "life strictly between 0 and 1"),
            ("renew_share = 1", "strictly between 0 and 1 (0.333 = a third left), got 1.0"),
            ('renew_share = "half"', "[daemon] renew_share: must be a number, got 'half'"),
            ("renew_every = 0", "[daemon] renew_every: must be 1..86400 seconds, got 0.0"),
            ("renew_every = 100000", "[daemon] renew_every: must be 1..86400 seconds")):
        path = write(tmp_path, GOOD + line + "\n")
        with pytest.raises(ConfigError) as err:
            load_daemon_config(path)
        assert str(err.value).startswith(f"{path}: ") and expected in str(err.value), line
